(ns shoal.membership.bootstrap
  "The pure decisions of forming a cluster, after Akka Cluster Bootstrap, and of merging two.

  A node outside any cluster probes every address discovery yields (`GET /v1/cluster`); each
  probe answers with the peer's node id, and its cluster when it has one:

      {:node-id \"…\" :cluster {:id \"uuid\" :name \"demo\" :created-at ms :size n} :hubs [...]}

  `step` turns what the node saw into one decision:

  - some peer is in a cluster: **join** the best such cluster (see `better?`);
  - nobody is in a cluster: wait until the set of peers seen has been unchanged for
    `:stable-for` ms and at least `:contacts` nodes (this one included) are seen; then the
    lowest node id among them **originates** and the others keep waiting (next round they
    find its cluster and join). With `:contacts 1`, a node that sees nobody at all originates
    alone, after the same stable window. If the lowest node dies, the set changes and the window restarts.

  `merge-target` is the member side: a node in a cluster that sees another cluster of the same
  CA through discovery dissolves into it when that cluster is better. All nodes apply the same
  total order, so two clusters never both dissolve into each other.")

(defn better?
  "Whether cluster `a` should absorb cluster `b`: the larger one wins, then the older (earlier
  `:created-at`), then the lower id, so that the order is total and both sides agree."
  [a b]
  (neg? (compare [(- (:size a 0)) (:created-at a) (:id a)]
                 [(- (:size b 0)) (:created-at b) (:id b)])))

(defn best-cluster
  "The best of the clusters the probes show (with the probe that showed it, whose `:hubs` lead
  to it), or nil when no peer is in a cluster. Probes of one cluster are merged keeping the
  largest size seen and every hub."
  [probes]
  (let [by-id (->> probes
                   (filter :cluster)
                   (group-by (comp :id :cluster)))]
    (when (seq by-id)
      (->> by-id
           (map (fn [[_ ps]]
                  {:cluster (apply max-key #(:size % 0) (map :cluster ps))
                   :hubs (vec (distinct (mapcat :hubs ps)))}))
           (sort (fn [x y] (cond (better? (:cluster x) (:cluster y)) -1
                                 (better? (:cluster y) (:cluster x)) 1
                                 :else 0)))
           first))))

(defn initial-state
  "Bootstrap state of a node with id `self` at time `now`."
  [self now]
  {:self self :seen nil :stable-since now})

(defn step
  "One bootstrap round. `probes` are the answers of live peers this round (the node's own
  answer excluded); `cfg` is `{:stable-for ms :contacts n}`. Returns
  `{:state s :decision [:join {:cluster :hubs}] | [:originate reason] | [:wait reason]}`."
  [{:keys [self seen stable-since] :as state} probes now {:keys [stable-for contacts]}]
  (let [probes (remove #(= self (:node-id %)) probes)
        ids (into (sorted-set) (map :node-id) probes)
        state (if (= ids seen) state (assoc state :seen ids :stable-since now))
        stable-ms (- now (:stable-since state))]
    {:state state
     :decision
     (if-let [best (best-cluster probes)]
       [:join best]
       (cond
         (< stable-ms stable-for)
         [:wait (format "discovery not yet stable (%d of %d ms), seeing %d peers" stable-ms stable-for (count ids))]

         (< (inc (count ids)) contacts)
         [:wait (format "seeing %d nodes, need %d contacts before forming" (inc (count ids)) contacts)]

         (empty? ids)
         [:originate "no peer seen: originating alone"]

         (neg? (compare self (first ids)))
         [:originate (format "lowest node id among %d nodes not in a cluster" (inc (count ids)))]

         :else
         [:wait (format "waiting for %s (lowest id) to originate" (first ids))]))}))

(defn merge-target
  "For a node in cluster `mine` (with its current `:size`), the better cluster among what
  `probes` show that it should dissolve into, or nil."
  [mine probes]
  (let [others (remove #(= (:id mine) (get-in % [:cluster :id])) (filter :cluster probes))
        best (best-cluster others)]
    (when (and best (better? (:cluster best) mine))
      best)))
