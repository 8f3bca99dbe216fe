(ns shoal.events.mem-test
  (:require [clojure.test :refer [deftest is]]
            [shoal.events :as events]
            [shoal.events.mem :as events.mem]))

(deftest the-event-log-is-bounded
  (let [evs (events.mem/start {:capacity 3} {})]
    (dotimes [i 5] (events/event! evs :t {:i i}))
    (is (= [2 3 4] (map :i (events/recent evs 10))))))

(deftest the-event-file-is-rotated-when-full
  (let [dir (java.nio.file.Files/createTempDirectory "shoal-events" (make-array java.nio.file.attribute.FileAttribute 0))
        file (str dir "/events.edn")
        evs (events.mem/start {:file file :max-file-bytes 300} {})]
    (try
      (dotimes [i 20] (events/event! evs :t {:i i}))
      (let [cur (slurp file) old (slurp (str file ".1"))]
        (is (<= (count cur) 400) "the current file stays near its bound")
        (is (re-find #":i 19" cur) "the newest event is in the current file")
        (is (not (re-find #":i 0\b" (str cur old))) "the oldest ones are gone after two rotations"))
      (finally
        (doseq [f (reverse (file-seq (.toFile dir)))] (.delete ^java.io.File f))))))
