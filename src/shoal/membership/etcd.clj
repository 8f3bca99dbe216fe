(ns shoal.membership.etcd
  "Membership on a real etcd. At start the node either comes back to the cluster whose etcd data
  it holds, or, with no peer reachable, *originates* one: it becomes the first hub, runs etcd as
  a child process (mTLS on client and peer ports, the node's own certificate), waits until it is
  healthy, writes the cluster record once, and registers itself under a lease with its facts.

  A named thread, the lease keeper, keeps the lease alive at a third of its TTL, re-registers
  when the lease was lost (e.g. the store was unreachable longer than the TTL), refreshes the
  node's facts, and turns etcd restarts by the hub supervisor into events. It never dies of an
  expected failure: it logs, backs off and tries again.

  Stopping is a graceful leave: the lease is revoked first (the node vanishes from every status
  at once), then etcd is stopped cleanly."
  (:require [clojure.java.io :as io]
            [clojure.tools.logging :as log]
            [shoal.events :as events]
            [shoal.facts :as facts]
            [shoal.hub.etcd :as hub]
            [shoal.identity :as identity]
            [shoal.membership :as m]
            [shoal.store :as store]
            [shoal.store.etcd :as store.etcd])
  (:import (java.net Inet4Address NetworkInterface)
           (java.util UUID)))

(defn detect-address
  "The first IPv4 address of an interface that is up and not loopback; 127.0.0.1 when there is
  none (a lone node on a laptop)."
  []
  (or (->> (enumeration-seq (NetworkInterface/getNetworkInterfaces))
           (filter #(and (.isUp ^NetworkInterface %) (not (.isLoopback ^NetworkInterface %))))
           (mapcat #(enumeration-seq (.getInetAddresses ^NetworkInterface %)))
           (filter #(instance? Inet4Address %))
           (map #(.getHostAddress ^Inet4Address %))
           first)
      "127.0.0.1"))

(defn- short-id [id] (subs id 0 (min 12 (count id))))

(defn- addresses [{:keys [advertise api-port]} hub]
  {:api (str advertise ":" api-port)
   :etcd-client (hub/advertise-client-url hub)
   :etcd-peer (hub/peer-url hub)})

(defn- register!
  "Grants a lease and writes this node's record under it. Returns the lease id."
  [{:keys [store opts hub facts node-id]}]
  (let [ttl-s (max 2 (quot (:lease-ttl-ms opts) 1000))
        lease (store/grant-lease! store ttl-s)
        rec (m/node-record {:id node-id :name (:name opts) :addresses (addresses opts hub)
                            :facts (facts/measure facts) :now (System/currentTimeMillis)})]
    (store/put! store (m/node-key node-id) (m/encode rec) {:lease lease})
    lease))

(defn- ensure-cluster!
  "Writes the cluster record if the store has none (origin), and returns the one that holds."
  [store {:keys [cluster-name node-id]}]
  (let [created? (store/put-if-absent! store m/cluster-key
                                       (m/encode (m/cluster-record {:name cluster-name :node-id node-id
                                                                    :now (System/currentTimeMillis)
                                                                    :uuid (UUID/randomUUID)})))]
    [created? (m/decode (:value (store/get store m/cluster-key)))]))

(defn- backoff-ms [attempt]
  (let [base (min 5000 (* 250 (bit-shift-left 1 (min attempt 5))))]
    (+ base (rand-int (inc (quot base 2))))))

(defn- keeper-loop
  "The lease keeper's body; see the namespace doc."
  [{:keys [state store opts events hub node-id] :as ctx}]
  (let [interval (max 300 (quot (:lease-ttl-ms opts) 3))
        refresh-every (max 1 (quot 10000 interval))]
    (loop [tick 1 failures 0 seen-restarts (:restarts (hub/info hub))]
      (when-not (.isInterrupted (Thread/currentThread))
        (let [outcome
              (try
                (store/keep-alive! store (:lease @state))
                (when (zero? (mod tick refresh-every))
                  (let [rec (m/node-record {:id node-id :name (:name opts) :addresses (addresses opts hub)
                                            :facts (facts/measure (:facts ctx))
                                            :now (System/currentTimeMillis)})]
                    (store/put! store (m/node-key node-id) (m/encode rec) {:lease (:lease @state)})))
                :ok
                (catch clojure.lang.ExceptionInfo e
                  (case (:type (ex-data e))
                    :shoal.store/lease-not-found
                    (let [old (:lease @state)
                          lease (register! ctx)]
                      (swap! state assoc :lease lease)
                      (events/event! events :shoal/lease-lost {:node node-id :old-lease old :new-lease lease
                                                               :reason "lease expired; registered again"})
                      :ok)
                    (do (log/warn "lease keeper:" (ex-message e))
                        :failed))))
              restarts (:restarts (hub/info hub))]
          (when (and restarts seen-restarts (> restarts seen-restarts))
            (events/event! events :shoal/etcd-restarted {:node node-id :restarts restarts
                                                         :last-exit (:last-exit (hub/info hub))}))
          (when (try (Thread/sleep (if (= outcome :ok) interval (min interval (backoff-ms failures)))) true
                     (catch InterruptedException _ false))
            (recur (inc tick) (if (= outcome :ok) 0 (inc failures)) restarts)))))))

(defn- supervised-thread
  "Starts `f` on a named daemon thread; an unexpected death is logged loudly, never silent."
  [name f]
  (doto (Thread. ^Runnable (fn []
                             (try (f)
                                  (catch InterruptedException _ nil)
                                  (catch Throwable t (log/error t name "died"))))
                 ^String name)
    (.setDaemon true)
    (.start)))

(defrecord EtcdMembership [opts identity events facts hub store state node-id]
  m/Membership
  (node-id [_] node-id)
  (status [_]
    (let [records (try (mapv (comp m/decode :value) (store/get-prefix store m/nodes-prefix))
                       (catch Exception e (log/debug "status: nodes unreadable" (ex-message e)) nil))
          etcd (try (let [s (store/status store)
                          members (store/members store)]
                      (assoc s :healthy true :members members))
                    (catch Exception e {:healthy false :error (ex-message e)}))
          {:keys [cluster lease]} @state
          hub-info (hub/info hub)]
      {:node-id node-id
       :name (:name opts)
       :cluster-id (:id cluster)
       :cluster cluster
       :roles (if (:running? hub-info) ["hub"] [])
       :lease {:id lease :ttl-ms (:lease-ttl-ms opts)}
       :members (m/members-view (or records []) (:members etcd))
       :etcd (merge etcd (select-keys hub-info [:running? :pid :restarts :last-exit]))}))

  java.io.Closeable
  (close [_]
    (when-let [^Thread t (:keeper @state)]
      (.interrupt t)
      (.join t 5000))
    (try (store/revoke-lease! store (:lease @state))
         (events/event! events :shoal/left {:node node-id :reason "graceful stop"})
         (catch Exception e (log/warn "leave: could not revoke lease:" (ex-message e))))
    (try (store/close store) (catch Exception _ nil))
    (hub/stop-etcd! hub)))

(defn start
  "Component start. Opts (from node.edn, see shoal.node):
  `{:data-dir :name :cluster-name :advertise (nil = detect) :api-port :lease-ttl-ms
    :etcd {:binary :listen-client {:host :port} :listen-peer {:host :port} :health-timeout-ms}}`.
  Deps: `:identity`, `:events`, `:facts`."
  [{:keys [data-dir etcd] :as opts} {:keys [identity events facts]}]
  (let [{:keys [id files]} (identity/current identity)
        opts (update opts :advertise #(or % (detect-address)))
        client-ctx (identity/client-ssl-context identity)
        etcd-dir (io/file data-dir "etcd")
        returning? (.exists (io/file etcd-dir "member"))
        h (hub/start {:binary (:binary etcd)
                      :data-dir (str etcd-dir)
                      :name id
                      :listen-client (:listen-client etcd)
                      :listen-peer (:listen-peer etcd)
                      :advertise-host (:advertise opts)
                      :tls {:cert (:cert files) :key (:key files) :ca (:ca files)}
                      :ssl-context client-ctx
                      :log-file (str (io/file data-dir "etcd.log"))}
                     {})]
    (try
      (log/info "node" (short-id id) (if returning? "restarting its hub from etcd data in" "originating a cluster in") (str etcd-dir))
      (hub/run-etcd! h {:initial-cluster-state :new
                        :initial-cluster (str id "=" (hub/peer-url h))})
      (hub/wait-healthy! h (or (:health-timeout-ms etcd) 30000))
      (let [s (store.etcd/connect {:endpoints [(hub/client-url h)] :ssl-context client-ctx})
            [created? cluster] (ensure-cluster! s {:cluster-name (:cluster-name opts) :node-id id})
            state (atom {:cluster cluster})
            ctx {:store s :opts opts :hub h :facts facts :node-id id :events events :state state}
            lease (register! ctx)]
        (swap! state assoc :lease lease)
        (events/event! events (if created? :shoal/originated :shoal/returned)
                       {:node id :cluster (:id cluster)
                        :reason (if created? "no peer reachable: originated a one-node cluster"
                                    "etcd data present: came back to its cluster")})
        (events/event! events :shoal/registered {:node id :lease lease :ttl-ms (:lease-ttl-ms opts)})
        (swap! state assoc :keeper (supervised-thread (str "shoal-lease-keeper-" (short-id id))
                                                      #(keeper-loop ctx)))
        (->EtcdMembership opts identity events facts h s state id))
      (catch Throwable t
        (hub/stop-etcd! h)
        (throw t)))))
