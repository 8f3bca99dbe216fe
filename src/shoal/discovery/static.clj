(ns shoal.discovery.static
  "The `:static` discovery source: the addresses written in node.edn,
  `{:type :static :addresses [\"10.0.0.2:7440\" …]}` (conformed to `{:host :port}` maps by
  shoal.config; strings are accepted too, for configs built in code). No I/O, never slow."
  (:require [shoal.discovery :as d]))

(defrecord Static [cfg addresses]
  d/Source
  (candidates [_ _] addresses))

(defmethod d/source :static [{:keys [addresses] :as cfg}]
  (when-not (sequential? addresses)
    (throw (d/invalid cfg (str "static: :addresses must be a vector of \"host:port\", got "
                               (d/show addresses)))))
  (->Static cfg (mapv #(or (d/parse-address %)
                           (throw (d/invalid cfg (str "static: bad address " (d/show %)))))
                      addresses)))
