(ns acme.hooks
  "A cluster repo's own namespace, as an operator would write it: a facts implementation that
  adds a label computed by the cluster's own code."
  (:require [shoal.facts :as facts]
            [shoal.facts.host :as host]))

(defn facts
  "Component start for `:facts`: the host's facts plus `:rack` from the cluster's own rule."
  [opts deps]
  (let [h (host/start opts deps)]
    (reify facts/Facts
      (measure [_] (assoc-in (facts/measure h) [:labels :rack] "r-42")))))
