;; AOT-compiles shoal for the node image; run by bin/build-image:
;;   java -cp OUT:src:resources:JARS clojure.main image/compile.clj OUT NS...
;; The first namespace (shoal.node, the image's main) must compile, or the build fails (exit 3).
;; The others are every namespace under src/ (components are loaded by name at run time, so
;; compiling shoal.node alone would leave them out); one that does not compile is reported and
;; left out of the image, and its name is written to OUT.warnings.
(let [[out main & others] *command-line-args*
      why (fn [^Throwable t]
            (->> (iterate #(.getCause ^Throwable %) t)
                 (take-while some?)
                 (map #(str "  " (.getName (class %)) ": " (.getMessage ^Throwable %)))))
      failed (binding [*compile-path* out]
               (try (compile (symbol main))
                    (catch Throwable t
                      (binding [*out* *err*]
                        (println (str "build-image: error: " main " does not compile, so there is no node to put in the image:"))
                        (run! println (why t)))
                      (System/exit 3)))
               (doall
                (for [n others
                      :let [t (try (compile (symbol n)) nil (catch Throwable t t))]
                      :when t]
                  (do (println (str "build-image: WARNING: " n " does not compile and is left out of the image:"))
                      (run! println (why t))
                      n))))]
  (spit (str out ".warnings") (apply str (map #(str % "\n") failed)))
  (shutdown-agents))
