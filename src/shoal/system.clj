(ns shoal.system
  "A node is a *system* of components built from an EDN map, in the manner of Integrant but in
  about a hundred lines of our own:

      {:identity   {:impl :file  ...opts}
       :hub        {:impl :etcd  :deps [:identity] ...opts}
       :membership {:impl :etcd  :deps [:identity :hub] ...opts}}

  Each key is one component with one job. `:impl` chooses its implementation:

  - a keyword `:x` on key `:k` names the function `shoal.k.x/start`;
  - a qualified symbol names any function, e.g. `my.cluster.store/start` from the cluster repo.

  The start function is called as `(start opts deps)`, where `opts` is the component's map and
  `deps` maps each key in `:deps` to the started dependency; it returns the running component.
  Stopping goes through the `Stop` protocol; `java.lang.AutoCloseable` is honoured, and anything
  else is taken to need no stopping.

  `start` starts in dependency order and, when one component fails, stops those already started
  (in reverse) and throws `:shoal.system/start-failed` naming the component and the cause.
  `stop` stops in reverse order, always all of them, and throws `:shoal.system/stop-failed`
  with every error collected."
  (:require [clojure.string :as str]
            [clojure.tools.logging :as log]))

(defprotocol Stop
  (stop! [component]
    "Stops a started component: releases its threads, processes, sockets. Blocks until done.
    Called once by the system; implementations should still tolerate a second call."))

(extend-protocol Stop
  java.lang.AutoCloseable
  (stop! [c] (.close c))
  Object
  (stop! [_] nil)
  nil
  (stop! [_] nil))

(defn- invalid [msg data]
  (ex-info msg (assoc data :type ::invalid)))

(defn order
  "The keys of `config` in an order where every component comes after its `:deps`.
  Throws `:shoal.system/invalid` on an unknown dependency or a cycle. Ties keep a stable,
  alphabetical order so that starts are reproducible."
  [config]
  (doseq [[k {:keys [deps]}] config
          d deps
          :when (not (contains? config d))]
    (throw (invalid (format "component %s depends on %s, which is not in the system" k d)
                    {:component k :missing d})))
  (loop [done [] done? #{} left (into (sorted-set) (keys config))]
    (if (empty? left)
      done
      (let [ready (filter #(every? done? (get-in config [% :deps])) left)]
        (when (empty? ready)
          (throw (invalid (str "dependency cycle among " (str/join " " left))
                          {:components (vec left)})))
        (recur (into done ready) (into done? ready) (reduce disj left ready))))))

(defn- needed
  "The keys in `only` and everything they depend on, transitively."
  [config only]
  (loop [seen #{} todo (vec only)]
    (if-let [k (peek todo)]
      (recur (conj seen k)
             (into (pop todo) (remove seen) (get-in config [k :deps])))
      seen)))

(defn resolve-impl
  "The start function for component `k` with implementation `impl` (see the namespace doc).
  Loads its namespace. Throws `:shoal.system/invalid` when it cannot be found."
  [k impl]
  (let [sym (cond
              (qualified-symbol? impl) impl
              (keyword? impl) (symbol (str "shoal." (name k) "." (name impl)) "start")
              :else (throw (invalid (format "component %s: :impl must be a keyword or a qualified symbol, got %s"
                                            k (pr-str impl))
                                    {:component k :impl impl})))]
    (or (try (requiring-resolve sym)
             (catch java.io.FileNotFoundException _ nil)
             (catch Exception e
               (throw (invalid (format "component %s: loading %s failed: %s" k sym (ex-message e))
                               {:component k :impl impl :fn sym} ))))
        (throw (invalid (format "component %s: no implementation %s (no function %s)"
                                k (pr-str impl) sym)
                        {:component k :impl impl :fn sym})))))

(defn- stop-all
  "Stops `started` ([[k component] ...] in start order) in reverse; returns the errors."
  [started]
  (reduce (fn [errors [k c]]
            (try (log/debug "stopping" k)
                 (stop! c)
                 errors
                 (catch Throwable t
                   (log/warn t "component" k "failed to stop")
                   (conj errors {:component k :error t}))))
          []
          (reverse started)))

(defn start
  "Starts the components of `config` (all of them, or with `{:only #{keys}}` those keys and
  their dependencies) and returns the system: `{:config config :order [k ...] :components {k c}}`.
  Pass it to `stop`. On a failed start, what already started is stopped and an ex-info of
  `:type :shoal.system/start-failed` is thrown with `:component`, `:impl`, and the cause."
  ([config] (start config {}))
  ([config {:keys [only]}]
   (let [config (if only (select-keys config (needed config only)) config)
         ks (order config)]
     (loop [[k & more] ks started []]
       (if-not k
         {:config config :order ks :components (into {} started)}
         (let [{:keys [impl deps] :as opts} (get config k)
               c (try
                   (let [f (resolve-impl k impl)
                         running (into {} started)]
                     (log/debug "starting" k "impl" impl)
                     (f opts (select-keys running deps)))
                   (catch Throwable t
                     (let [stop-errors (stop-all started)]
                       (throw (ex-info (format "component %s (impl %s) failed to start: %s"
                                               k (pr-str impl) (or (ex-message t) (str t)))
                                       {:type ::start-failed :component k :impl impl
                                        :stopped (mapv first (reverse started))
                                        :stop-errors stop-errors}
                                       t)))))]
           (recur more (conj started [k c]))))))))

(defn stop
  "Stops every component of `system` in reverse start order, even when some fail; then throws
  `:shoal.system/stop-failed` with `:errors` if any did. Returns nil."
  [{:keys [order components]}]
  (let [errors (stop-all (map (juxt identity components) order))]
    (when (seq errors)
      (throw (ex-info (str "components failed to stop: " (str/join " " (map :component errors)))
                      {:type ::stop-failed :errors errors})))))

(defn component
  "The started component `k` of `system`; throws if there is none."
  [system k]
  (or (get-in system [:components k])
      (throw (ex-info (str "no component " k " in this system") {:type ::invalid :component k}))))
