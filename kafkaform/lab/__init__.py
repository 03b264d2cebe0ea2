"""The local lab: N Debian hosts as systemd-nspawn containers on a bridge, no VMs needed.

Each host boots real systemd as PID 1 from its own overlay over one shared base rootfs, with
its own hostname, address, machine-id and SSH host keys. The containers and the artifact
mirror run detached, so they outlive the ``kafkaform lab`` command that started them; the
state file records what is running so later commands (and ``inventories/lab.py``) find it.

    plan       names, addresses, the files each host gets, its inventory data (pure)
    state      the lab directory, the state file and the lab lock
    rootfs     this machine's lab tools, the debootstrap base and unpacked lab boxes
    network    the bridge, forwarding and NAT
    mirror     the artifact mirror served to the hosts
    nodes      finding, booting, stopping and killing hosts; status and ssh
    lifecycle  up and down of the whole lab
    export     a host's disk written as a lab box
    cli        ``kafkaform lab ...``
"""
