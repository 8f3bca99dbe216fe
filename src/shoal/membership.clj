(ns shoal.membership
  "Membership (layer 4): who is in the cluster. A node registers itself in the store under a
  lease with its facts and addresses; the lease is kept alive while the node lives, revoked when
  it leaves gracefully, and expires (TTL from node.edn) when it dies. Whoever can read the store
  sees the members; nothing else is needed to agree on them.

  Store layout (values are EDN strings):

      /shoal/cluster        {:id uuid :name s :created-at ms :origin node-id}   written once, at origin
      /shoal/nodes/<id>     {:id :name :addresses {...} :facts {...} :registered-at ms}  under the node's lease

  This namespace holds the protocol and the pure parts (keys, records, the status view); the
  running implementation is `shoal.membership.etcd`."
  (:require [clojure.edn :as edn]))

(defprotocol Membership
  (status [m]
    "The node's view of its cluster as data: node id, cluster id and name, this node's roles,
    the members with their facts, and the health of the store. Never throws: an unreachable
    store shows as `:healthy false` with the reason.")
  (node-id [m] "This node's id (from its key, see shoal.identity).")
  (cluster-info [m]
    "What this node tells a peer that probes it (`GET /v1/cluster`) while forming or merging:
    `{:node-id :phase :cluster {:id :name :created-at :origin :size}-or-nil :hubs [etcd client URLs]}`.
    The size is read from the store at the time of asking (merges compare sizes); never throws."))

(def cluster-key "/shoal/cluster")
(def nodes-prefix "/shoal/nodes/")

(defn node-key [id] (str nodes-prefix id))

(defn encode [x] (pr-str x))

(defn decode
  "Reads an EDN value written by `encode`; nil for nil. Explicit readers only: values in the
  store are data, never code."
  [s]
  (when s (edn/read-string {:readers {}} s)))

(defn cluster-record
  "The record written once when a cluster is originated."
  [{:keys [name node-id now uuid]}]
  {:id (str uuid) :name name :created-at now :origin node-id})

(defn node-record
  "What a node registers about itself."
  [{:keys [id name addresses facts now]}]
  {:id id :name name :addresses addresses :facts facts :registered-at now})

(defn members-view
  "Members as shown in status, sorted by id, each with its roles: a node whose id names an etcd
  member is a hub (a learner is a hub in waiting)."
  [node-records etcd-members]
  (let [hubs (into {} (map (juxt :name identity)) etcd-members)]
    (->> node-records
         (map (fn [{:keys [id] :as n}]
                (let [m (hubs id)]
                  (assoc n :roles (cond (nil? m) [] (:learner? m) ["learner"] :else ["hub"])))))
         (sort-by :id)
         vec)))
