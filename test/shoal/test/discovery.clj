(ns shoal.test.discovery
  "Helpers shared by the discovery sources' tests."
  (:require [clojure.test :refer [is]]
            [shoal.discovery :as d]))

(defn failure
  "Asks the source built from `cfg` for candidates, expecting it to fail as a source should
  (`:shoal.discovery/source-failed` naming `cfg`); returns the reason, or nil when it did not fail."
  [cfg timeout-ms]
  (try (d/candidates (d/source cfg) timeout-ms) nil
       (catch clojure.lang.ExceptionInfo e
         (is (= ::d/source-failed (:type (ex-data e))))
         (is (= cfg (:source (ex-data e))))
         (:reason (ex-data e)))))
