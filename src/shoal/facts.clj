(ns shoal.facts
  "A node's facts: what the cluster knows about a machine when it chooses hubs and places work.
  `{:cpus n :memory-bytes n :disk-free-bytes n :uptime-s n :started-at ms :hostname s :labels {}}`.
  The `Facts` protocol lets a simulated node (`:sim`) report made-up machines.")

(defprotocol Facts
  (measure [f]
    "The node's current facts, measured now. Cheap enough to call every few seconds; never throws."))
