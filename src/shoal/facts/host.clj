(ns shoal.facts.host
  "Facts of the machine this JVM runs on: processors and memory from the JVM's view of the OS
  (which honours container limits), free disk under the node's data dir, machine uptime from
  /proc/uptime (process uptime where that file is absent)."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [shoal.facts :as facts])
  (:import (java.lang.management ManagementFactory)
           (java.net InetAddress)))

(defn- machine-uptime-s []
  ;; slurp asks /proc for available(), which fails with EINVAL; read the bytes instead.
  (try (-> (java.nio.file.Files/readAllBytes (.toPath (io/file "/proc/uptime")))
           (String.) (str/split #"\s+") first Double/parseDouble long)
       (catch Exception _
         (quot (.getUptime (ManagementFactory/getRuntimeMXBean)) 1000))))

(defn- hostname []
  (try (.getHostName (InetAddress/getLocalHost)) (catch Exception _ "unknown")))

(defrecord HostFacts [data-dir labels started-at]
  facts/Facts
  (measure [_]
    (let [os (ManagementFactory/getOperatingSystemMXBean)]
      {:cpus (.availableProcessors (Runtime/getRuntime))
       :memory-bytes (.getTotalMemorySize ^com.sun.management.OperatingSystemMXBean os)
       :disk-free-bytes (.getUsableSpace (io/file data-dir))
       :uptime-s (machine-uptime-s)
       :started-at started-at
       :hostname (hostname)
       :labels (or labels {})})))

(defn start
  "Component start: `{:data-dir path :labels {k v}}`."
  [{:keys [data-dir labels]} _deps]
  (.mkdirs (io/file data-dir))
  (->HostFacts data-dir labels (System/currentTimeMillis)))
