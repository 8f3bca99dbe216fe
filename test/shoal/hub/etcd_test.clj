(ns ^:integration shoal.hub.etcd-test
  "The supervised etcd child process, with real etcd on free loopback ports (plain http; TLS
  is exercised by the store's and the node's tests): healthy start, restart after kill -9 with
  the same cluster and data, no restart after a clean stop, a bad binary, data kept across
  stop/start."
  (:require [clojure.java.io :as io]
            [clojure.test :refer [deftest is testing]]
            [shoal.hub.etcd :as hub]
            [shoal.store :as store]
            [shoal.store.etcd :as store.etcd]
            [shoal.test.etcd :as te]
            [shoal.test.util :as u]))

(defn- hub-opts [dir & {:as more}]
  (merge {:binary te/etcd-binary
          :data-dir (str (io/file dir "etcd"))
          :name "hub1"
          :listen-client {:host "127.0.0.1" :port (u/free-port)}
          :listen-peer {:host "127.0.0.1" :port (u/free-port)}
          :advertise-host "127.0.0.1"
          :log-file (str (io/file dir "etcd.log"))}
         more))

(defmacro ^:private with-hub
  "Binds `sym` to a hub component on a fresh temp dir; always stops etcd and deletes the dir."
  [[sym dir-sym] & body]
  `(let [~dir-sym (u/temp-dir "shoal-hub-test")
         ~sym (hub/start (hub-opts ~dir-sym) {})]
     (try ~@body
          (finally
            (hub/stop-etcd! ~sym)
            (u/delete-tree ~dir-sym)))))

(defn- new-cluster! [h]
  (hub/run-etcd! h {:initial-cluster-state :new
                    :initial-cluster (str "hub1=" (hub/peer-url h))}))

(defn- pid-alive? [pid]
  (.orElse (.map (java.lang.ProcessHandle/of pid)
                 (reify java.util.function.Function (apply [_ h] (.isAlive ^java.lang.ProcessHandle h))))
           false))

(deftest start-creates-without-running
  (with-hub [h dir]
    (is (= {:running? false :pid nil :restarts 0 :last-exit nil} (hub/info h)))
    (is (re-matches #"http://127\.0\.0\.1:\d+" (hub/client-url h)))
    (is (re-matches #"http://127\.0\.0\.1:\d+" (hub/peer-url h)))
    (is (not (.exists (io/file dir "etcd"))))))

(deftest starts-healthy
  (with-hub [h dir]
    (new-cluster! h)
    (is (true? (hub/wait-healthy! h 20000)))
    (is (:running? (hub/info h)))
    (is (.exists (io/file dir "etcd" "member")))
    (is (pos? (.length (io/file dir "etcd.log"))) "etcd's output goes to the log file")
    (with-open [s (store.etcd/connect {:endpoints [(hub/client-url h)]})]
      (is (= [{:name "hub1" :peer-urls [(hub/peer-url h)] :client-urls [(hub/client-url h)]}]
             (map #(select-keys % [:name :peer-urls :client-urls]) (store/members s)))))
    (testing "a second run-etcd! is refused"
      (is (= :shoal.hub/etcd-already-running
             (try (new-cluster! h) nil
                  (catch clojure.lang.ExceptionInfo e (:type (ex-data e)))))))))

(deftest restarted-after-kill-9
  (with-hub [h dir]
    (new-cluster! h)
    (hub/wait-healthy! h 20000)
    (with-open [s (store.etcd/connect {:endpoints [(hub/client-url h)]})]
      (let [cluster-id (:cluster-id (store/status s))
            pid (:pid (hub/info h))]
        (store/put! s "kept" "yes")
        (.destroyForcibly ^java.lang.ProcessHandle (.get (java.lang.ProcessHandle/of pid)))
        (is (u/poll 15000 #(= 1 (hub/restarts h))) "the supervisor restarts it")
        (hub/wait-healthy! h 20000)
        (let [i (hub/info h)]
          (is (:running? i))
          (is (not= pid (:pid i)))
          (is (= 137 (get-in i [:last-exit :code])) "SIGKILL: 128 + 9")
          (is (integer? (get-in i [:last-exit :at]))))
        (is (= cluster-id (:cluster-id (store/status s))) "the same cluster, not a new one")
        (is (= "yes" (:value (store/get s "kept"))) "data kept")))))

(deftest clean-stop-is-not-restarted
  (with-hub [h dir]
    (new-cluster! h)
    (hub/wait-healthy! h 20000)
    (let [pid (:pid (hub/info h))]
      (hub/stop-etcd! h)
      (is (not (pid-alive? pid)))
      (Thread/sleep 1500) ; longer than the first restart backoff (at most 750 ms)
      (is (= {:running? false :pid nil :restarts 0 :last-exit nil} (hub/info h)))
      (is (nil? (:supervisor @(:state h))) "supervisor thread ended")
      (is (= :shoal.hub/unhealthy
             (try (hub/wait-healthy! h 500) nil
                  (catch clojure.lang.ExceptionInfo e (:type (ex-data e))))))
      (testing "stopping again is a no-op"
        (is (nil? (hub/stop-etcd! h)))))))

(deftest bad-binary-is-a-clear-error
  (let [dir (u/temp-dir "shoal-hub-test")
        h (hub/start (hub-opts dir :binary "/nonexistent/etcd") {})]
    (try
      (let [d (try (new-cluster! h) nil (catch clojure.lang.ExceptionInfo e (ex-data e)))]
        (is (= :shoal.hub/etcd-binary-not-found (:type d)))
        (is (= "/nonexistent/etcd" (:binary d))))
      (is (= {:running? false :pid nil :restarts 0 :last-exit nil} (hub/info h)))
      (testing "a binary that exits at once: unhealthy, with the log tail"
        (let [h2 (hub/start (hub-opts dir :binary "/bin/false" :name "hub2") {})]
          (try
            (hub/run-etcd! h2 {:initial-cluster-state :new})
            (let [d (try (hub/wait-healthy! h2 1500) nil
                         (catch clojure.lang.ExceptionInfo e (ex-data e)))]
              (is (= :shoal.hub/unhealthy (:type d)))
              (is (string? (:last-error d)))
              (is (string? (:log-tail d))))
            (finally (hub/stop-etcd! h2)))))
      (finally
        (hub/stop-etcd! h)
        (u/delete-tree dir)))))

(deftest data-kept-across-stop-and-start
  (let [dir (u/temp-dir "shoal-hub-test")
        opts (hub-opts dir)
        h1 (hub/start opts {})]
    (try
      (new-cluster! h1)
      (hub/wait-healthy! h1 20000)
      (let [cluster-id (with-open [s (store.etcd/connect {:endpoints [(hub/client-url h1)]})]
                         (store/put! s "before" "stop")
                         (:cluster-id (store/status s)))]
        (hub/stop-etcd! h1)
        (let [h2 (hub/start opts {})]
          (try
            ;; :new with a member dir present: etcd restarts from the data, ignoring the flag
            (new-cluster! h2)
            (hub/wait-healthy! h2 20000)
            (with-open [s (store.etcd/connect {:endpoints [(hub/client-url h2)]})]
              (is (= "stop" (:value (store/get s "before"))))
              (is (= cluster-id (:cluster-id (store/status s)))))
            (finally (hub/stop-etcd! h2)))))
      (finally
        (hub/stop-etcd! h1)
        (u/delete-tree dir)))))

(deftest an-orphaned-etcd-left-by-a-killed-node-is-stopped-and-replaced
  (let [dir (u/temp-dir "shoal-hub-orphan")
        opts (hub-opts dir)
        ;; the first hub stands for a node JVM that was SIGKILLed: its etcd keeps running and
        ;; nobody will ever stop it through this handle
        orphaned (hub/start opts {})
        fresh (hub/start opts {})]
    (try
      (new-cluster! orphaned)
      (hub/wait-healthy! orphaned 20000)
      ;; as in a killed JVM: nothing supervises that etcd any more
      (let [^Thread sup (:supervisor @(:state orphaned))]
        (.interrupt sup)
        (.join sup 5000))
      (let [orphan-pid (:pid (hub/info orphaned))
            cluster-id (with-open [s (store.etcd/connect {:endpoints [(hub/client-url orphaned)]})]
                         (store/put! s "/k" "kept")
                         (:cluster-id (store/status s)))]
        (new-cluster! fresh)
        (is (hub/wait-healthy! fresh 20000))
        (is (not (pid-alive? orphan-pid)) "the orphan was stopped")
        (is (not= orphan-pid (:pid (hub/info fresh))))
        (with-open [s (store.etcd/connect {:endpoints [(hub/client-url fresh)]})]
          (is (= cluster-id (:cluster-id (store/status s))) "same data dir, same cluster")
          (is (= "kept" (:value (store/get s "/k"))))))
      (finally
        (hub/stop-etcd! fresh)
        (hub/stop-etcd! orphaned)
        (u/delete-tree dir)))))
