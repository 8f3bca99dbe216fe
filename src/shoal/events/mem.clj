(ns shoal.events.mem
  "An event log kept in memory, bounded (`:capacity`, default 1000 events: old ones drop off),
  each event also written to the text log at INFO. Optionally appended to a file of EDN lines
  (`:file`), so that a node's decisions survive its restart."
  (:require [clojure.java.io :as io]
            [clojure.tools.logging :as log]
            [shoal.events :as events]))

(defrecord MemLog [state capacity file]
  events/EventLog
  (emit! [_ event]
    (let [e (merge {:at (System/currentTimeMillis)} event)]
      (swap! state (fn [q] (let [q (conj q e)] (if (> (count q) capacity) (pop q) q))))
      (log/info "event" (pr-str e))
      (when file
        (try (spit file (str (pr-str e) "\n") :append true)
             (catch Exception ex (log/warn "could not append event to" file ":" (ex-message ex)))))
      e))
  (recent [_ n]
    (vec (take-last n @state))))

(defn start
  "Component start: `{:capacity n :file path-or-nil}`."
  [{:keys [capacity file]} _deps]
  (when file (io/make-parents file))
  (->MemLog (atom clojure.lang.PersistentQueue/EMPTY) (or capacity 1000) file))
