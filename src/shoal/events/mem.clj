(ns shoal.events.mem
  "An event log kept in memory, bounded (`:capacity`, default 1000 events: old ones drop off),
  each event also written to the text log at INFO. Optionally appended to a file of EDN lines
  (`:file`), so that a node's decisions survive its restart; the file is rotated once it
  reaches `:max-file-bytes` (default 10 MiB: the previous one is kept as `<file>.1`), so a
  long-lived node cannot fill its disk with its own history."
  (:require [clojure.java.io :as io]
            [clojure.tools.logging :as log]
            [shoal.events :as events]))

(defn- rotate-if-full! [file max-bytes]
  (let [f (io/file file)]
    (when (>= (.length f) max-bytes)
      (let [old (io/file (str file ".1"))]
        (.delete old)
        (.renameTo f old)))))

(defrecord MemLog [state capacity file max-file-bytes]
  events/EventLog
  (emit! [this event]
    (let [e (merge {:at (System/currentTimeMillis)} event)]
      (swap! state (fn [q] (let [q (conj q e)] (if (> (count q) capacity) (pop q) q))))
      (log/info "event" (pr-str e))
      (when file
        (try (locking this
               (rotate-if-full! file max-file-bytes)
               (spit file (str (pr-str e) "\n") :append true))
             (catch Exception ex (log/warn "could not append event to" file ":" (ex-message ex)))))
      e))
  (recent [_ n]
    (vec (take-last n @state))))

(defn start
  "Component start: `{:capacity n :file path-or-nil :max-file-bytes n}`."
  [{:keys [capacity file max-file-bytes]} _deps]
  (when file (io/make-parents file))
  (->MemLog (atom clojure.lang.PersistentQueue/EMPTY) (or capacity 1000) file
            (or max-file-bytes (* 10 1024 1024))))
