(ns shoal.node
  "A shoal node: reads node.edn (and the cluster repo's cluster.edn when node.edn names one),
  builds the node's system of components from them, runs it, and leaves gracefully on SIGTERM
  or SIGINT (lease revoked, etcd stopped cleanly, exit 0).

  The system is data (see `system-config`): each layer one key, its implementation chosen by
  `:impl`. node.edn's `:system` map overrides any key, e.g. `{:facts {:impl my.cluster/facts}}`."
  (:require [clojure.java.io :as io]
            [clojure.tools.logging :as log]
            [shoal.config :as config]
            [shoal.log :as slog]
            [shoal.system :as sys])
  (:import (java.net InetAddress)))

(defn- hostname []
  (try (.getHostName (InetAddress/getLocalHost)) (catch Exception _ nil)))

;; Identity must not depend on an address, but the certificate must name the address peers dial
;; (etcd's peers, written in Go, check it), so the address is settled before anything starts.
(defn detect-address
  "The first IPv4 address of an interface that is up and not loopback; 127.0.0.1 when there is
  none (a lone node on a laptop)."
  []
  (or (->> (enumeration-seq (java.net.NetworkInterface/getNetworkInterfaces))
           (filter #(and (.isUp ^java.net.NetworkInterface %) (not (.isLoopback ^java.net.NetworkInterface %))))
           (mapcat #(enumeration-seq (.getInetAddresses ^java.net.NetworkInterface %)))
           (filter #(instance? java.net.Inet4Address %))
           (map #(.getHostAddress ^java.net.InetAddress %))
           first)
      "127.0.0.1"))

(defn- deep-merge [a b]
  (if (and (map? a) (map? b)) (merge-with deep-merge a b) b))

(defn system-config
  "The node's system, as data, from a conformed node config and (optionally) cluster config."
  [node cluster]
  (let [{:keys [data-dir labels ca listen]} node
        advertise (or (:advertise node)
                      (let [a (detect-address)]
                        (log/info "advertise address not configured; detected" a
                                  "(set :advertise in node.edn to choose another)")
                        a))
        name (or (:name node) (hostname) "node")]
    (deep-merge
     {:events {:impl :mem :file (str (io/file data-dir "events.edn"))}
      :facts {:impl :host :data-dir data-dir :labels labels}
      :identity {:impl :file :data-dir data-dir :ca ca
                 :lifetime-ms (get-in node [:cert :lifetime])
                 :hosts (vec (distinct (remove nil? [advertise (hostname)])))}
      :membership {:impl :etcd :deps [:identity :events :facts]
                   :data-dir data-dir :name name
                   :cluster-name (or (:name cluster) "shoal")
                   :advertise advertise
                   :api-port (get-in listen [:api :port])
                   :lease-ttl-ms (get-in node [:lease :ttl])
                   :discovery (:discovery node)
                   :etcd {:binary (get-in node [:etcd :binary])
                          :listen-client (:etcd-client listen)
                          :listen-peer (:etcd-peer listen)}}
      :api {:impl :https :deps [:identity :membership :events] :listen (:api listen)}}
     (:system node))))

(defn read-configs
  "Reads and validates node.edn at `path` and, when it names a cluster repo, that repo's
  cluster.edn. Returns `[node cluster-or-nil]`; throws shoal.config's errors."
  [path]
  (let [node (config/read-node-config path)
        repo (get-in node [:cluster-repo :path])
        cluster (when repo (config/read-cluster-config (str (io/file repo "cluster.edn"))))]
    [node cluster]))

(defn- cluster-repo-loader
  "A class loader that also finds Clojure namespaces in the cluster repo (`<repo>/src` and the
  repo root), so that `:impl my.cluster/thing` and cluster.edn's `:namespaces` resolve."
  ^ClassLoader [repo parent]
  (let [cl (clojure.lang.DynamicClassLoader. parent)]
    (doseq [^java.io.File d [(io/file repo "src") (io/file repo)] :when (.isDirectory d)]
      (.addURL cl (.toURL (.toURI d))))
    cl))

(defn- load-cluster-namespaces! [cluster]
  (doseq [n (:namespaces cluster)]
    (try (require n)
         (catch Exception e
           (throw (ex-info (format "cluster.edn [:namespaces]: cannot load %s: %s" n (ex-message e))
                           {:type ::namespace-failed :namespace n} e))))))

(defn start
  "Starts a node from the node.edn at `path`; returns the running system (stop it with
  `shoal.system/stop`). The cluster repo's namespaces are loadable by the node: the threads the
  system starts inherit a class loader that sees the repo. `:on-fatal` (fn [thread-name
  throwable]) is called when a supervised loop dies of something it did not expect."
  ([path] (start path {}))
  ([path {:keys [on-fatal]}]
  (let [[node cluster] (read-configs path)
        thread (Thread/currentThread)
        before (.getContextClassLoader thread)
        repo (get-in node [:cluster-repo :path])]
    (try
      (when repo (.setContextClassLoader thread (cluster-repo-loader repo before)))
      (load-cluster-namespaces! cluster)
      (sys/start (cond-> (system-config node cluster)
                   on-fatal (assoc-in [:membership :on-fatal] on-fatal)))
      (finally (.setContextClassLoader thread before))))))

(defn- forward-signals!
  "Makes the signals `names` arrive in queue `q` as their names. The JVM runs signal handlers
  on a thread of its own whose class loader cannot load Clojure's classes, so the handler only
  hands the signal over; the stopping happens on the thread that takes from the queue."
  [^java.util.concurrent.BlockingQueue q names]
  (doseq [n names]
    (sun.misc.Signal/handle (sun.misc.Signal. ^String n)
                            (reify sun.misc.SignalHandler
                              (handle [_ sig] (.offer q (.getName ^sun.misc.Signal sig)))))))

(defn -main
  "Runs a node: `java ... -m shoal.node [path/to/node.edn]` (default ./node.edn). Exits 2 on a
  bad config, 1 when the node cannot start, 0 after a graceful leave, 70 after stopping because
  a supervised loop died (with `--restart=always`, Docker then starts it afresh)."
  [& args]
  (slog/setup!)
  (let [path (or (first args) "node.edn")
        why-stop (java.util.concurrent.LinkedBlockingQueue.)
        _ (forward-signals! why-stop ["TERM" "INT"])
        system (try (start path {:on-fatal (fn [_ _] (.offer why-stop "FATAL"))})
                    (catch clojure.lang.ExceptionInfo e
                      (let [t (:type (ex-data e))
                            config-error? (= "shoal.config" (namespace (or t :x/y)))]
                        (binding [*out* *err*]
                          (println (str "shoal: " (ex-message e)))
                          (when-let [c (and (not config-error?) (ex-cause e))]
                            (println (str "  caused by: " (ex-message c)))))
                        (System/exit (if config-error? 2 1)))))
        membership (sys/component system :membership)
        api (sys/component system :api)]
    (log/info "node ready:" (pr-str {:node (:node-id membership) :api-port (:port api)}))
    (let [why (.take why-stop)
          _ (if (= "FATAL" why)
              (log/error "a supervised loop died (see above): stopping the node")
              (log/info "received SIG" why "- leaving the cluster"))
          code (try (sys/stop system) (if (= "FATAL" why) 70 0)
                    (catch Throwable t (log/error t "stop failed") 1))]
      (log/info "node stopped; exit" code)
      (shutdown-agents)
      (System/exit code))))
