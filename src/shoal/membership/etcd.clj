(ns shoal.membership.etcd
  "Membership on a real etcd: how a node comes to be in exactly one cluster and stays there.

  One named thread, the *membership loop*, owns the node's place in the cluster. Its phases:

  - `:starting` — a node holding etcd data was a hub: it restarts etcd from that data and comes
    back to its cluster (re-advertising its peer URL if its address changed). A node that
    remembers a cluster (`<data-dir>/membership.edn`) tries that cluster's hubs first.
  - `:discovering` — the node asks discovery for addresses and probes each (`GET /v1/cluster`,
    mTLS: only nodes of the same CA answer). `shoal.membership.bootstrap/step` decides: join
    the best cluster seen, originate (lowest id of a stable group, or alone), or wait.
  - `:member` — registered under a lease with its facts. Each tick keeps the lease alive (and
    registers again when it was lost), refreshes facts and the hubs' endpoints, turns etcd
    restarts into events, and every few seconds probes discovery for another cluster of the
    same CA: when a better one exists (`bootstrap/merge-target`), the node *dissolves*: it
    leaves (lease revoked; a hub stops etcd and deletes its data) and joins the other. A node
    is never registered in two clusters.

  Expected failures (store unreachable, a peer that does not answer) are logged and retried
  with backoff; the loop never dies silently. Stopping is a graceful leave: lease revoked first,
  then etcd stopped cleanly."
  (:require [clojure.data.json :as json]
            [clojure.edn :as edn]
            [clojure.java.io :as io]
            [clojure.tools.logging :as log]
            [shoal.discovery :as discovery]
            [shoal.events :as events]
            [shoal.facts :as facts]
            [shoal.http :as http]
            [shoal.hub.etcd :as hub]
            [shoal.identity :as identity]
            [shoal.membership :as m]
            [shoal.loop :as lp]
            [shoal.membership.bootstrap :as bootstrap]
            [shoal.store :as store]
            [shoal.store.etcd :as store.etcd])
  (:import (java.net URI)
           (java.net.http HttpClient HttpRequest HttpResponse$BodyHandlers)
           (java.time Duration)
           (java.util UUID)))

(defn- short-id [id] (subs id 0 (min 12 (count id))))

;; ---------------------------------------------------------------------------------------------
;; Probing peers

(defn- probe
  "Asks the node at `{:host :port}` which cluster it is in. Returns its `/v1/cluster` answer,
  or nil when it does not answer (or is not one of ours: the TLS handshake fails)."
  [^HttpClient client {:keys [host port]} timeout-ms]
  (try
    (let [req (-> (HttpRequest/newBuilder (URI. (str "https://" host ":" port "/v1/cluster")))
                  (.timeout (Duration/ofMillis timeout-ms))
                  .build)
          resp (.send client req (HttpResponse$BodyHandlers/ofString))]
      (when (= 200 (.statusCode resp))
        (json/read-str (.body resp) :key-fn keyword)))
    (catch Exception e
      (log/debug "probe" (str host ":" port) "failed:" (ex-message e))
      nil)))

(defn- probe-all
  "Discovery, then every candidate probed at once. Returns the answers of live peers."
  [{:keys [opts client]}]
  (let [{:keys [sources timeout]} (:discovery opts)
        {:keys [candidates]} (discovery/discover sources timeout)
        futures (mapv #(future (probe client % timeout)) candidates)]
    (into [] (keep #(deref % (+ timeout 1000) nil)) futures)))

;; ---------------------------------------------------------------------------------------------
;; Registration

(defn- addresses [{:keys [opts hub]}]
  {:api (str (:advertise opts) ":" (:api-port opts))
   :etcd-client (hub/advertise-client-url hub)
   :etcd-peer (hub/peer-url hub)})

(defn- put-record! [{:keys [opts facts node-id] :as ctx} s lease]
  (let [rec (m/node-record {:id node-id :name (:name opts) :addresses (addresses ctx)
                            :facts (facts/measure facts) :now (System/currentTimeMillis)})]
    (store/put! s (m/node-key node-id) (m/encode rec) {:lease lease})))

(defn- register!
  "Grants a lease on `s` and writes this node's record under it. Returns the lease id."
  [{:keys [opts] :as ctx} s]
  (let [lease (store/grant-lease! s (max 2 (quot (:lease-ttl-ms opts) 1000)))]
    (put-record! ctx s lease)
    lease))

(defn- ensure-cluster!
  "Writes the cluster record if the store has none (origin); returns `[created? record]`."
  [s {:keys [cluster-name node-id]}]
  (let [created? (store/put-if-absent! s m/cluster-key
                                       (m/encode (m/cluster-record {:name cluster-name :node-id node-id
                                                                    :now (System/currentTimeMillis)
                                                                    :uuid (UUID/randomUUID)})))]
    [created? (m/decode (:value (store/get s m/cluster-key)))]))

(defn- hub-client-urls
  "Client URLs of the store's voting members (learners are not serving clients yet)."
  [s]
  (vec (distinct (mapcat :client-urls (remove :learner? (store/members s))))))

(defn- membership-file ^java.io.File [{:keys [opts]}] (io/file (:data-dir opts) "membership.edn"))

(defn- remember! [ctx cluster hubs]
  (spit (membership-file ctx) (pr-str {:cluster-id (:id cluster) :hubs hubs})))

(defn- remembered [ctx]
  (let [f (membership-file ctx)]
    (when (.exists f)
      (try (edn/read-string {:readers {}} (slurp f))
           (catch Exception e (log/warn "ignoring unreadable" (str f) ":" (ex-message e)) nil)))))

(defn- connect [{:keys [client-ctx]} endpoints]
  (store.etcd/connect {:endpoints (vec endpoints) :ssl-context client-ctx :timeout-ms 2000}))

(defn- become-member!
  "Registers on store `s` in `cluster` and records it all in the state."
  [{:keys [state events node-id] :as ctx} s cluster event reason]
  (let [lease (register! ctx s)
        ;; in the state at once: whatever fails from here on, leave! finds and revokes it
        _ (swap! state assoc :store s :lease lease :cluster cluster)
        hubs (hub-client-urls s)]
    (remember! ctx cluster hubs)
    (swap! state assoc :phase :member :reason reason :hubs hubs :failures 0
           :failed-joins {} :last-error nil)
    (events/event! events event {:node node-id :cluster (:id cluster) :reason reason})
    (events/event! events :shoal/registered {:node node-id :lease lease})
    (when-let [sources (seq (get-in ctx [:opts :discovery :sources]))]
      (future (discovery/publish! sources (str (get-in ctx [:opts :advertise]) ":"
                                               (get-in ctx [:opts :api-port])))))
    (log/info "node" (short-id node-id) "is a member of cluster" (:id cluster) "-" reason)))

;; ---------------------------------------------------------------------------------------------
;; Becoming a member: origin, return, join

(defn- run-hub!
  "Runs etcd (new cluster or from its data) and waits until it is healthy; returns a store
  connected to it."
  [{:keys [hub node-id opts] :as ctx}]
  (when-not (hub/supervised? hub)
    (hub/run-etcd! hub {:initial-cluster-state :new
                        :initial-cluster (str node-id "=" (hub/peer-url hub))}))
  (hub/wait-healthy! hub (get-in opts [:etcd :health-timeout-ms] 30000))
  (connect ctx [(hub/client-url hub)]))

(defn- originate! [{:keys [opts node-id] :as ctx} reason]
  (let [s (run-hub! ctx)
        [created? cluster] (ensure-cluster! s {:cluster-name (:cluster-name opts) :node-id node-id})]
    (become-member! ctx s cluster (if created? :shoal/originated :shoal/returned) reason)))

(defn- readvertise!
  "A hub whose address changed updates its etcd peer URL (client URLs etcd publishes itself)."
  [{:keys [hub node-id events]} s]
  (let [me (first (filter #(= node-id (:name %)) (store/members s)))
        want [(hub/peer-url hub)]]
    (when (and me (not= (set want) (set (:peer-urls me))))
      (store/member-update! s (:id me) want)
      (events/event! events :shoal/readvertised {:node node-id :old (:peer-urls me) :new want
                                                 :reason "address changed"}))))

(defn- return-as-hub! [ctx]
  (let [s (run-hub! ctx)
        cluster (m/decode (:value (store/get s m/cluster-key)))]
    (readvertise! ctx s)
    (if cluster
      (become-member! ctx s cluster :shoal/returned "etcd data present: came back to its cluster")
      (originate! ctx "etcd data without a cluster record: originating"))))

(defn- reach
  "A store connected to `hubs` whose cluster record is `cluster`'s, or nil (logged) when they
  do not answer or hold another cluster. Checked before anything is given up for it."
  [{:keys [node-id] :as ctx} cluster hubs]
  (when (seq hubs)
    (let [s (connect ctx hubs)]
      (try
        (let [actual (m/decode (:value (store/get s m/cluster-key)))]
          (if (= (:id actual) (:id cluster))
            [s actual]
            (do (log/warn "node" (short-id node-id) "expected cluster" (:id cluster) "at" hubs
                          "but found" (:id actual))
                (store/close s)
                nil)))
        (catch Exception e
          (log/info "node" (short-id node-id) "cannot reach cluster" (:id cluster) "at" hubs ":" (ex-message e))
          (store/close s)
          nil)))))

(defn- join!
  "Joins `cluster` through the etcd client URLs of its hubs. Returns true when joined; a
  cluster that cannot be reached is counted in `:failed-joins` (see `discovering-round!`)."
  [{:keys [state] :as ctx} cluster hubs reason]
  (if-let [[s actual] (reach ctx cluster hubs)]
    (do (become-member! ctx s actual :shoal/joined reason) true)
    (do (swap! state update-in [:failed-joins (:id cluster)] (fnil inc 0))
        false)))

(defn- leave!
  "Leaves the current cluster: lease revoked, store closed; with `:dissolve`, a hub also stops
  etcd and deletes its data, and the remembered cluster is forgotten."
  [{:keys [state hub opts] :as ctx} & {:keys [dissolve]}]
  (let [{:keys [store lease]} @state]
    (when (and store lease)
      (try (store/revoke-lease! store lease)
           (catch Exception e (log/warn "leave: could not revoke lease:" (ex-message e)))))
    (when store (try (store/close store) (catch Exception _ nil)))
    (swap! state dissoc :store :lease :cluster :hubs :size :size-at)
    (when dissolve
      (hub/stop-etcd! hub)
      ;; renamed first (atomic), deleted after: a crash in between must not bring the node
      ;; back as the hub of the cluster it dissolved
      (let [dir (io/file (:data-dir opts) "etcd")
            gone (io/file (:data-dir opts) (str "etcd.dissolved-" (System/currentTimeMillis)))]
        (when (.exists dir)
          (when-not (.renameTo dir gone)
            (throw (ex-info (str "cannot move " dir " away to dissolve its cluster") {:type ::dissolve-failed :dir (str dir)})))
          (doseq [f (reverse (file-seq gone))]
            (when-not (.delete ^java.io.File f)
              (log/warn "could not delete" (str f))))))
      (.delete (membership-file ctx)))))

;; ---------------------------------------------------------------------------------------------
;; The loop

(defn- to-discovering!
  "Back to looking for a cluster, with a fresh bootstrap state (own id, stability from now)."
  [{:keys [state node-id]} reason]
  (swap! state assoc :phase :discovering :reason reason
         :bootstrap (bootstrap/initial-state node-id (System/currentTimeMillis))))

(defn- starting! [{:keys [state opts] :as ctx}]
  (cond
    (.exists (io/file (:data-dir opts) "etcd" "member"))
    (return-as-hub! ctx)

    :else
    (let [{:keys [cluster-id hubs]} (remembered ctx)
          rejoined? (when (seq hubs)
                      (try (join! ctx {:id cluster-id} hubs "restarted: rejoined the cluster it remembers")
                           (catch Exception e
                             (log/info "remembered cluster not reachable at" hubs ":" (ex-message e))
                             false)))]
      (when-not rejoined?
        (to-discovering! ctx "looking for peers")))))

(def ^:private max-failed-joins
  "Joins of one cluster that may fail before its members' probes are ignored: a cluster whose
  API answers but whose hubs cannot be reached (dead hub, wrong advertised address) must not
  hold every new node forever."
  3)

(defn- discovering-round! [{:keys [state node-id] :as ctx}]
  (let [failed (:failed-joins @state {})
        probes (remove #(>= (get failed (get-in % [:cluster :id]) 0) max-failed-joins) (probe-all ctx))
        {st :state [kind arg] :decision} (bootstrap/step (:bootstrap @state) probes
                                                         (System/currentTimeMillis)
                                                         (select-keys (get-in ctx [:opts :discovery])
                                                                      [:stable-for :contacts]))]
    (swap! state assoc :bootstrap st)
    (when-not (:stopping @state)                  ; a SIGTERM during the round: do nothing more
      (case kind
      :join (let [{:keys [cluster hubs]} arg]
              (log/info "node" (short-id node-id) "joining cluster" (:id cluster) "via" hubs)
              (join! ctx cluster hubs (format "found cluster %s (%d nodes) through discovery"
                                              (:id cluster) (:size cluster 0))))
      :originate (originate! ctx arg)
      :wait (swap! state assoc :reason arg)))))

(defn- discovering! [{:keys [state node-id opts] :as ctx}]
  (if (empty? (get-in opts [:discovery :sources]))
    (originate! ctx "no discovery sources configured: originating alone")
    (discovering-round! ctx)))

(defn- fresh-size!
  "The number of registered nodes, read from the store at most once a second (and cached in
  the state; nothing else reads it); the cached value (0 if none) when the store does not answer. Merge decisions compare sizes,
  and a size cached before the last joins could make the bigger cluster dissolve into the
  smaller; a second is shorter than any join."
  [{:keys [state]}]
  (let [{:keys [store size size-at]} @state
        now (System/currentTimeMillis)]
    (if (and size size-at (< (- now size-at) 1000))
      size
      (try (let [n (count (store/get-prefix store m/nodes-prefix))]
             (swap! state assoc :size n :size-at now)
             n)
           (catch Exception _ (or size 0))))))

(defn- merge-check!
  "Looks for a better cluster of the same CA; dissolves into it when there is one."
  [{:keys [state events node-id] :as ctx}]
  (let [mine (assoc (:cluster @state) :size (fresh-size! ctx))]
    (when-let [{other :cluster hubs :hubs} (bootstrap/merge-target mine (probe-all ctx))]
      ;; nothing is given up before the better cluster's hubs are known to answer
      (when-let [[s actual] (when-not (:stopping @state) (reach ctx other hubs))]
        (let [reason (format "cluster %s (%d nodes, created %d) absorbs %s (%d nodes, created %d)"
                             (:id other) (:size other 0) (:created-at other)
                             (:id mine) (:size mine 0) (:created-at mine))]
          (log/info "node" (short-id node-id) "dissolving:" reason)
          (events/event! events :shoal/dissolved {:node node-id :from (:id mine) :into (:id other) :reason reason})
          (try
            (leave! ctx :dissolve true)
            (to-discovering! ctx "dissolved; joining the better cluster")
            (become-member! ctx s actual :shoal/joined reason)
            (catch Exception e
              (store/close s)
              (when (= :member (:phase @state)) (throw e))
              (to-discovering! ctx (str "dissolved, but joining failed: " (ex-message e)))))
          true)))))

(defn- member-tick!
  "Keeps the lease, refreshes the record and the view of the cluster, notices etcd restarts."
  [{:keys [state events hub node-id] :as ctx} tick refresh-every]
  (let [{:keys [store lease]} @state]
    (try
      (store/keep-alive! store lease)
      (catch clojure.lang.ExceptionInfo e
        (if (= :shoal.store/lease-not-found (store/error-type e))
          (let [new-lease (register! ctx store)]
            (swap! state assoc :lease new-lease)
            (events/event! events :shoal/lease-lost {:node node-id :old-lease lease :new-lease new-lease
                                                     :reason "lease expired; registered again"}))
          (throw e))))
    (when (zero? (mod tick refresh-every))
      (put-record! ctx store (:lease @state))
      (let [hubs (hub-client-urls store)]
        (when (and (seq hubs) (not= hubs (:hubs @state)))
          (remember! ctx (:cluster @state) hubs))
        (swap! state assoc :hubs hubs)))
    (let [restarts (:restarts (hub/info hub))]
      (when (> restarts (:seen-restarts @state 0))
        (events/event! events :shoal/etcd-restarted {:node node-id :restarts restarts
                                                     :last-exit (:last-exit (hub/info hub))}))
      (swap! state assoc :seen-restarts restarts))))

(defn- reconnect!
  "The store has been unreachable for a while: find this cluster's hubs again through
  discovery (their addresses may have changed) and reconnect to them."
  [{:keys [state] :as ctx}]
  (let [{:keys [cluster store]} @state
        hubs (->> (probe-all ctx)
                  (filter #(= (:id cluster) (get-in % [:cluster :id])))
                  (mapcat :hubs) distinct vec)]
    (when (and (seq hubs) (not= (set hubs) (set (:hubs @state))))
      (log/info "reconnecting to the hubs of" (:id cluster) "at" hubs)
      (swap! state assoc :store (connect ctx hubs) :hubs hubs)
      (try (store/close store) (catch Exception _ nil)))))

(def ^:private orphan-after-ttls
  "A member that is not a hub and has reached none of its hubs for this many lease TTLs gives
  its cluster up and looks for one again (its lease has long expired anyway)."
  6)

(defn- member-round!
  "A member's tick, and the merge check when it is due or when the tick failed: a node whose
  cluster was dissolved around it (its hub joined a better cluster) has a dead store, and the
  better cluster is exactly where it must go. The tick's error is rethrown only when the node
  is still in the same cluster; after `orphan-after-ttls` of them the node starts over."
  [{:keys [state hub opts] :as ctx} tick refresh-every merge-due?]
  (let [cluster (:id (:cluster @state))
        error (try (member-tick! ctx tick refresh-every) nil
                   (catch InterruptedException e (throw e))
                   (catch Exception e e))]
    (when (and (or merge-due? error) (seq (get-in opts [:discovery :sources])))
      (merge-check! ctx))
    (when (and error (= cluster (:id (:cluster @state))))
      (let [since (or (:unreachable-since @state)
                      (:unreachable-since (swap! state assoc :unreachable-since (System/currentTimeMillis))))]
        (when (and (not (hub/supervised? hub))
                   (> (- (System/currentTimeMillis) since) (* orphan-after-ttls (:lease-ttl-ms opts))))
          (log/warn "node" (short-id (:node-id ctx)) "has reached no hub of" cluster "since" since "- looking for a cluster again")
          (leave! ctx)
          (.delete (membership-file ctx))
          (to-discovering! ctx (str "hubs of " cluster " unreachable for " orphan-after-ttls " lease TTLs")))
        (throw error)))
    (when-not error (swap! state dissoc :unreachable-since))))

(defn- run-loop [{:keys [state opts node-id] :as ctx}]
  (let [interval (max 300 (quot (:lease-ttl-ms opts) 3))
        refresh-every (max 1 (quot 5000 interval))
        ;; Only hubs look for other clusters on a timer (members follow when their hub
        ;; dissolves: their ticks fail and that runs the check), every 10 s at most: probing is
        ;; hubs × candidates requests, not members × candidates.
        merge-every (max 1 (quot (max 10000 (get-in opts [:discovery :stable-for] 3000)) interval))
        has-sources? (seq (get-in opts [:discovery :sources]))]
    (loop [tick 1]
      (when-not (or (:stopping @state) (.isInterrupted (Thread/currentThread)))
        (let [ok? (try
                    (case (:phase @state)
                      :starting (starting! ctx)
                      :discovering (discovering! ctx)
                      :member (member-round! ctx tick refresh-every
                                             (and has-sources? (hub/supervised? (:hub ctx))
                                                  (zero? (mod tick merge-every)))))
                    (swap! state assoc :failures 0 :last-error nil)
                    true
                    (catch InterruptedException e (throw e))
                    (catch Exception e
                      (let [n (:failures (swap! state update :failures (fnil inc 0)))]
                        (log/warn "membership" (short-id node-id) (name (:phase @state)) "failed"
                                  (str "(" n " in a row):") (ex-message e))
                        (swap! state assoc :last-error (ex-message e) :last-error-at (System/currentTimeMillis))
                        (when (and (= :member (:phase @state)) has-sources?
                                   (zero? (mod n 3)) (not (hub/supervised? (:hub ctx))))
                          (try (reconnect! ctx) (catch Exception e2 (log/debug "reconnect failed" (ex-message e2)))))
                        false)))
              pause (cond (not ok?) (min interval (lp/backoff-ms 250 5000 (:failures @state 0)))
                          (= :discovering (:phase @state)) 500
                          :else interval)]
          (when (try (Thread/sleep pause) true (catch InterruptedException _ false))
            (recur (inc tick))))))))

;; ---------------------------------------------------------------------------------------------
;; The component

(defrecord EtcdMembership [ctx node-id]
  m/Membership
  (node-id [_] node-id)
  (cluster-info [_]
    (let [{:keys [phase cluster hubs]} @(:state ctx)
          member? (= :member phase)]
      {:node-id node-id
       :phase phase
       :cluster (when (and member? (:id cluster)) (assoc cluster :size (fresh-size! ctx)))
       :hubs (if (= :member phase) hubs [])}))
  (status [_]
    (let [{:keys [state hub opts]} ctx
          {:keys [phase reason cluster lease store last-error]} @state
          records (when store
                    (try (mapv (comp m/decode :value) (store/get-prefix store m/nodes-prefix))
                         (catch Exception e (log/debug "status: nodes unreadable" (ex-message e)) nil)))
          etcd (if store
                 (try (assoc (store/status store) :healthy true :members (store/members store))
                      (catch Exception e {:healthy false :error (ex-message e)}))
                 {:healthy false :error "not in a cluster yet"})
          hub-info (hub/info hub)]
      {:node-id node-id
       :name (:name opts)
       :phase phase
       :reason reason
       :last-error last-error
       :last-error-at (:last-error-at @state)
       :cluster-id (:id cluster)
       :cluster cluster
       :roles (if (:running? hub-info) ["hub"] [])
       :lease {:id lease :ttl-ms (:lease-ttl-ms opts)}
       :members (m/members-view (or records []) (:members etcd))
       :etcd (merge etcd (select-keys hub-info [:running? :pid :restarts :last-exit]))}))

  java.io.Closeable
  (close [_]
    (let [{:keys [state hub events]} ctx]
      (swap! state assoc :stopping true)
      (when-let [^Thread t (:thread @state)]
        (.interrupt t)
        (.join t 10000))
      (when (:lease @state)
        (events/event! events :shoal/left {:node node-id :reason "graceful stop"}))
      (leave! ctx)
      (hub/stop-etcd! hub))))

(defn start
  "Component start: creates the membership loop and returns at once (joining may take a while;
  `status` shows the phase and why). Opts (from node.edn, see shoal.node):
  `{:data-dir :name :cluster-name :advertise :api-port :lease-ttl-ms
    :discovery {:sources [...] :timeout ms :stable-for ms :contacts n}
    :etcd {:binary :listen-client {:host :port} :listen-peer {:host :port} :health-timeout-ms}}`.
  Deps: `:identity`, `:events`, `:facts`."
  [{:keys [data-dir etcd] :as opts} {:keys [identity events facts]}]
  (let [{:keys [id files]} (identity/current identity)
        opts (update opts :discovery #(merge {:sources [] :timeout 2000 :stable-for 3000 :contacts 1} %))
        client-ctx (identity/client-ssl-context identity)
        h (hub/start {:binary (:binary etcd)
                      :data-dir (str (io/file data-dir "etcd"))
                      :name id
                      :listen-client (:listen-client etcd)
                      :listen-peer (:listen-peer etcd)
                      :advertise-host (:advertise opts)
                      :tls {:cert (:cert files) :key (:key files) :ca (:ca files)}
                      :ssl-context client-ctx
                      :log-file (str (io/file data-dir "etcd.log"))
                      :on-fatal (:on-fatal opts)}
                     {})
        state (atom {:phase :starting :reason "starting"})
        ctx {:opts opts :hub h :facts facts :node-id id :events events :state state
             :client-ctx client-ctx
             :client (http/client {:ssl-context client-ctx :timeout-ms (get-in opts [:discovery :timeout])})}]
    (swap! state assoc :thread (lp/supervised-thread (str "shoal-membership-" (short-id id)) #(run-loop ctx)
                                                     (select-keys opts [:on-fatal])))
    (->EtcdMembership ctx id)))
