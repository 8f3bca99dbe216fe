(ns shoal.events
  "The event log: every decision the node takes (originated, joined, registered, lease lost,
  etcd restarted, certificate renewed, refused config...) as data with its reasons, separate
  from the text log. Operators read it with `(events)` from the REPL and in `/v1/status`.

  An event is a map `{:at epoch-ms :node node-id :type :namespaced/keyword & details}`.")

(defprotocol EventLog
  (emit! [log event]
    "Records `event` (a map with at least `:type`); adds `:at` when absent. Never blocks on I/O
    for long and never throws for a well-formed event: a failing event log must not stop a
    decision from being taken.")
  (recent [log n]
    "The last `n` events, oldest first."))

(defn event!
  "Records an event of `type` with `details` (a map) on `log`, which may be nil (then nothing
  is recorded). Returns the event."
  [log type details]
  (let [e (merge {:type type :at (System/currentTimeMillis)} details)]
    (when log (emit! log e))
    e))
