(ns shoal.fake.ok
  "A component implementation found by convention (`{:fake {:impl :ok}}`), for shoal.system's tests.")

(defn start
  "Returns the opts and the dependency keys it was given."
  [opts deps]
  {:opts opts :deps (set (keys deps))})
