(ns shoal.system-test
  (:require [clojure.test :refer [deftest is testing]]
            [shoal.system :as sys]))

(def ^:private log (atom []))

(defrecord Recorder [k]
  sys/Stop
  (stop! [_] (swap! log conj [:stop k])))

(defn recording
  "A component that records its start and stop in `log`."
  [{:keys [k fail-start fail-stop]} deps]
  (when fail-start (throw (ex-info "boom: port 2379 in use" {:type :test/boom})))
  (swap! log conj [:start k (set (keys deps))])
  (if fail-stop
    (reify sys/Stop (stop! [_] (swap! log conj [:stop k]) (throw (ex-info "stuck" {}))))
    (->Recorder k)))

(defn closeable [_ _]
  (reify java.io.Closeable (close [_] (swap! log conj [:closed]))))

(def ^:private base
  {:c {:impl `recording :k :c :deps [:a :b]}
   :a {:impl `recording :k :a}
   :b {:impl `recording :k :b :deps [:a]}})

(deftest starts-in-dependency-order-and-stops-in-reverse
  (reset! log [])
  (let [s (sys/start base)]
    (is (= [:a :b :c] (:order s)))
    (is (= [[:start :a #{}] [:start :b #{:a}] [:start :c #{:a :b}]] @log))
    (reset! log [])
    (sys/stop s)
    (is (= [[:stop :c] [:stop :b] [:stop :a]] @log))))

(deftest failed-start-rolls-back-what-started
  (reset! log [])
  (let [ex (try (sys/start (assoc-in base [:c :fail-start] true)) nil
                (catch clojure.lang.ExceptionInfo e e))]
    (is (= ::sys/start-failed (:type (ex-data ex))))
    (is (= :c (:component (ex-data ex))))
    (is (= [:b :a] (:stopped (ex-data ex))))
    (is (= "component :c (impl shoal.system-test/recording) failed to start: boom: port 2379 in use"
           (ex-message ex)))
    (is (= :test/boom (:type (ex-data (ex-cause ex)))) "the cause travels with the error")
    (is (= [[:start :a #{}] [:start :b #{:a}] [:stop :b] [:stop :a]] @log))))

(deftest stop-stops-everything-and-reports-all-errors
  (reset! log [])
  (let [s (sys/start (assoc-in base [:b :fail-stop] true))
        ex (try (sys/stop s) nil (catch clojure.lang.ExceptionInfo e e))]
    (is (= ::sys/stop-failed (:type (ex-data ex))))
    (is (= [:b] (map :component (:errors (ex-data ex)))))
    (is (= [[:stop :c] [:stop :b] [:stop :a]] (drop 3 @log)))))

(deftest invalid-systems-are-explained
  (testing "unknown dependency"
    (let [ex (try (sys/start {:a {:impl `recording :deps [:store]}}) nil
                  (catch clojure.lang.ExceptionInfo e e))]
      (is (= "component :a depends on :store, which is not in the system" (ex-message ex)))))
  (testing "cycle"
    (is (thrown-with-msg? clojure.lang.ExceptionInfo #"dependency cycle among :a :b"
                          (sys/order {:a {:deps [:b]} :b {:deps [:a]}}))))
  (testing "unknown implementation keyword"
    (let [ex (try (sys/start {:store {:impl :nosuch}}) nil
                  (catch clojure.lang.ExceptionInfo e e))]
      (is (= ::sys/start-failed (:type (ex-data ex))))
      (is (re-find #"no implementation :nosuch \(no function shoal.store.nosuch/start\)"
                   (ex-message ex)))))
  (testing "impl of the wrong kind"
    (is (thrown-with-msg? clojure.lang.ExceptionInfo #":impl must be a keyword or a qualified symbol, got \"etcd\""
                          (sys/start {:store {:impl "etcd"}})))))

(deftest implementations-by-convention-symbol-or-closeable
  (reset! log [])
  (let [s (sys/start {:fake {:impl :ok :x 1}
                      :mine {:impl `closeable :deps [:fake]}})]
    (is (= {:impl :ok :x 1} (:opts (sys/component s :fake))))
    (sys/stop s)
    (is (= [[:closed]] @log))))

(deftest only-starts-a-subset-with-its-dependencies
  (reset! log [])
  (let [s (sys/start base {:only #{:b}})]
    (is (= [:a :b] (:order s)))
    (sys/stop s)))
