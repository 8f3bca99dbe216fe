(ns shoal.test-runner
  "Runs shoal's test namespaces and prints one line `N passed, N failed` at the end, counting
  test vars (deftest), not assertions: a test passes when none of its assertions failed or threw.

  Usage: bin/test [tier-or-namespace-regex ...]. With no argument, every namespace under test/
  whose name ends in -test runs. The tiers are by namespace metadata: ^:integration (real etcd
  processes) and ^:e2e (real Docker containers); `unit`, `integration`, `e2e` select them."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :as t]
            [shoal.log :as slog]))

(defn- test-namespaces
  "Symbols of every *_test.clj file under test/, sorted."
  [root]
  (->> (file-seq (io/file root))
       (filter #(str/ends-with? (.getName ^java.io.File %) "_test.clj"))
       (map #(-> (str (.relativize (.toPath (io/file root)) (.toPath ^java.io.File %)))
                 (str/replace #"\.clj$" "")
                 (str/replace "/" ".")
                 (str/replace "_" "-")
                 symbol))
       sort))

(defn- tier [ns-sym]
  (let [m (meta (find-ns ns-sym))]
    (cond (:e2e m) "e2e" (:integration m) "integration" :else "unit")))

(def ^:private tiers #{"unit" "integration" "e2e"})

(defn- wanted?
  "Whether `ns-sym` may be selected by `args`, judged by name alone (before loading it)."
  [ns-sym args]
  (or (empty? args)
      (some tiers args)
      (some #(re-find (re-pattern %) (str ns-sym)) args)))

(defn- selected? [ns-sym args]
  (or (empty? args)
      (some (fn [a] (if (tiers a) (= a (tier ns-sym)) (re-find (re-pattern a) (str ns-sym)))) args)))

(defn- load-ns
  "Requires `n`; a namespace that does not load is a failed test, not a dead run."
  [n results]
  (try (require n) true
       (catch Throwable t
         (println "FAIL" n "does not load:" (ex-message t))
         (some-> (ex-cause t) ex-message (->> (println "     cause:")))
         (swap! results #(-> % (update :failed inc) (update :failures conj (str n " (load)"))))
         false)))

(defn run
  "Runs the selected namespaces; returns {:passed n :failed n :failures [test-var-names]}."
  [args]
  (let [results (atom {:passed 0 :failed 0 :failures []})
        nss (->> (test-namespaces "test")
                 (filter #(wanted? % args))
                 (filter #(load-ns % results))
                 (filter #(selected? % args)))
        current-failed (atom false)
        report t/report]
    (binding [t/report (fn [m]
                         (case (:type m)
                           :begin-test-var (reset! current-failed false)
                           (:fail :error) (reset! current-failed true)
                           :end-test-var (let [v (:var m)
                                               n (str (symbol v))]
                                           (if @current-failed
                                             (swap! results #(-> % (update :failed inc)
                                                                 (update :failures conj n)))
                                             (swap! results update :passed inc))
                                           (println (if @current-failed "FAIL" "ok  ") n))
                           nil)
                         ;; test.check reports every trial; only its failures matter here
                         (when-not (= "clojure.test.check.clojure-test" (namespace (:type m)))
                           (report m)))]
      (doseq [n nss]
        (println "==>" n (str "(" (tier n) ")"))
        (flush)
        (t/run-tests n)))
    @results))

(defn -main [& args]
  ;; WARN keeps a green run readable; SHOAL_LOG=INFO (or DEBUG) shows the nodes' lifecycle.
  (slog/setup! (or (System/getenv "SHOAL_LOG") "WARN"))
  (let [{:keys [passed failed failures]} (run args)]
    (when (seq failures)
      (println "failed tests:")
      (doseq [f failures] (println "  " f)))
    (println (str passed " passed, " failed " failed"))
    (flush)
    (shutdown-agents)
    (System/exit (if (zero? failed) 0 1))))
