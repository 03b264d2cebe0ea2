# Managed by kafkaform. Reads `kafka-topics --describe` (TopicCommand) output and prints one
# line per partition that matters to a rolling restart of broker `me`:
#   mode=gate  partitions that forbid restarting it now: offline, under min.insync.replicas,
#              or at min.insync.replicas with `me` in the ISR (the restart would take them
#              below, and acks=all producers would fail: Strimzi's rule);
#   mode=sync  partitions not fully in sync (the wait after a restart).
# Partitions whose replica count is not above their min.insync.replicas cannot stay writable
# through any restart: a warning on stderr, never a blocker.
# Variables: mode, me (broker id), dflt (the brokers' min.insync.replicas).
# Usage: awk -F'\t' -v mode=gate -v me=2 -v dflt=2 -f partitions.awk

function field(name,   i) {
    for (i = 1; i <= NF; i++)
        if (index($i, name ": ") == 1)
            return substr($i, length(name) + 3)
    return ""
}

/^Topic: / {
    topic = field("Topic")
    min[topic] = dflt + 0
    if (match(field("Configs"), /min\.insync\.replicas=[0-9]+/))
        min[topic] = substr(field("Configs"), RSTART + 20, RLENGTH - 20) + 0
    next
}

/\tPartition: / {
    t = field("Topic")
    p = t "-" field("Partition")
    m = (t in min) ? min[t] : dflt + 0
    nr = split(field("Replicas"), replicas, ",")
    isr_list = field("Isr")
    ni = (isr_list == "") ? 0 : split(isr_list, isr, ",")
    leader = field("Leader")
    offline = (leader == "none" || leader == "-1" || leader == "")
    if (mode == "sync") {
        if (offline || ni < nr)
            print p " has " ni " of " nr " replicas in sync"
        next
    }
    if (offline) {
        print p " is offline (no leader)"
        next
    }
    if (nr <= m) {
        printf "warning: %s has %d replica(s) and min.insync.replicas=%d: no restart keeps it writable\n", p, nr, m > "/dev/stderr"
        next
    }
    if (ni < m) {
        print p " is under min.insync.replicas (" ni " in sync, min " m ")"
        next
    }
    mine = 0
    for (i = 1; i <= ni; i++)
        if (isr[i] == me)
            mine = 1
    if (mine && ni == m)
        print p " would drop below min.insync.replicas (isr " isr_list ", min " m ")"
}
