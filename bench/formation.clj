;; bench/formation: many node containers forming one cluster. Run by bench/formation (the shell
;; wrapper), which puts the test harness on the classpath. Prints `key: value` lines.
(require '[shoal.test.cluster :as c]
         '[shoal.test.docker :as d]
         '[clojure.java.shell :as sh])

(defn- secs [t0] (format "%.2f" (/ (- (System/nanoTime) t0) 1e9)))

(let [cold? (some #{"--cold"} *command-line-args*)
      secrets (c/default-secrets!)]
  (when cold?
    ;; what a first build on a fresh machine does: jlink, AOT compile, the shared image layers
    (sh/sh "rm" "-rf" "target/jre" "target/jre.key" "target/classes" "target/classes.key" "target/image")
    (sh/sh "docker" "rmi" "-f" "shoal-node-base:current"))
  (let [t0 (System/nanoTime)
        tag (str "shoal-node:bench-" (System/currentTimeMillis))
        r (sh/sh "bin/build-image" "--secrets" secrets "--tag" tag :in "")]
    (when-not (zero? (:exit r)) (println (:out r) (:err r)) (System/exit 1))
    (println (str (if cold? "image-build-cold-s: " "image-build-s: ") (secs t0)))
    (println (str "image-mib: " (format "%.1f" (/ (:Size (d/inspect tag)) 1048576.0))))
    (c/with-cluster [cl {:nodes 0 :image tag}]
      (let [t1 (System/nanoTime)
            ns (mapv deref (mapv (fn [_] (future (c/add-node! cl))) (range 5)))]
        (c/wait-one-cluster cl ns 180000)
        (println (str "form-5-s: " (secs t1)))
        (let [t2 (System/nanoTime)
              n6 (c/add-node! cl)]
          (c/wait-one-cluster cl (conj ns n6) 120000)
          (println (str "join-1-s: " (secs t2))))))
    (d/docker! "rmi" "-f" tag)
    (shutdown-agents)))
