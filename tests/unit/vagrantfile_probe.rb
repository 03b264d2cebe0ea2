# Loads the project's Vagrantfile with a recording stand-in for Vagrant's config API and prints
# what it defined, as JSON: which machines, their hostnames and addresses, the trigger.
require "json"

module Vagrant
  module Errors
    class VagrantError < StandardError
      def self.error_message(*); end
    end
  end

  class Recorder
    attr_reader :sets, :calls, :children

    def initialize
      @sets = {}
      @calls = []
      @children = Hash.new { |h, k| h[k] = Recorder.new }
    end

    def method_missing(name, *args, **opts, &block)
      key = name.to_s
      if key.end_with?("=")
        @sets[key.chomp("=")] = args[0]
      elsif args.empty? && opts.empty? && block.nil?
        @children[key]
      else
        child = Recorder.new
        @calls << { "name" => key, "args" => args, "opts" => opts, "child" => child }
        # Configuration blocks run; trigger bodies (t.ruby) are actions, not configuration.
        block.call(child, Recorder.new) if block && key != "ruby"
      end
    end

    def respond_to_missing?(*)
      true
    end
  end

  def self.configure(_version)
    config = Recorder.new
    yield config
    machines = config.children["vm"].calls.select { |c| c["name"] == "define" }.map do |c|
      vm = c["child"].children["vm"]
      networks = vm.calls.select { |n| n["name"] == "network" }
      {
        "name" => c["args"][0],
        "primary" => c["opts"][:primary],
        "hostname" => vm.sets["hostname"],
        "private_ip" => networks.find { |n| n["args"][0] == "private_network" }&.dig("opts", :ip),
        "forwards" => networks.select { |n| n["args"][0] == "forwarded_port" }.map { |n| n["opts"][:guest] },
      }
    end
    after = config.children["trigger"].calls.select { |c| c["name"] == "after" }
    puts JSON.generate(
      "machines" => machines,
      "providers" => config.children["vm"].calls.select { |c| c["name"] == "provider" }.map { |c| c["args"][0].to_s },
      "triggers" => after.map { |t| { "on" => t["args"].map(&:to_s), "only_on" => t["child"].sets["only_on"] } },
      "box" => config.children["vm"].sets["box"],
    )
  end
end

load ARGV[0]
