(ns shoal.store.mem
  "An in-memory `shoal.store/Store` for unit tests and simulations: the same contract as
  `shoal.store.etcd` (test/shoal/store_contract.clj), no process, no network.

  Model: one atom holds the keys, a global revision, the leases and the members, plus the log
  of every change (the store's history, as etcd keeps one), so that a watch can start from a
  revision and never drops an event. The log is never compacted: fine for tests, not for
  long simulations with many writes.

  Time: leases read the injected `:clock` (ms, default the wall clock). A lease past its
  deadline is expired, and its keys deleted (with watch events), by `expire!` or lazily by the
  next call on the store; there is no background thread, so a test with a fake clock decides
  exactly when expiry happens."
  (:require [clojure.core.async :as a]
            [clojure.string :as str]
            [shoal.store :as store])
  (:import (java.io Closeable)))

(defn- now-ms [{:keys [clock]}] (long (clock)))

(defn- random-hex []
  (Long/toHexString (bit-or 1 (.nextLong (java.util.concurrent.ThreadLocalRandom/current)))))

(defn- append-change
  "Writes or deletes `key` at the next revision; returns the new state."
  [st type key value lease]
  (let [rev (inc (:rev st))]
    (-> st
        (assoc :rev rev)
        (update :log conj {:type type :key key :value value :revision rev})
        (update :kv (fn [kv] (if (= type :delete)
                               (dissoc kv key)
                               (assoc kv key {:key key :value value :mod-revision rev
                                              :lease (or lease 0)})))))))

(defn- delete-keys
  "Deletes `keys` (that exist) at one new revision, as etcd does for a range delete."
  [st keys]
  (if (empty? keys)
    st
    (let [rev (inc (:rev st))]
      (-> st
          (assoc :rev rev)
          (update :log into (for [k keys] {:type :delete :key k :value nil :revision rev}))
          (update :kv #(apply dissoc % keys))))))

(defn- expire-leases
  "Drops leases whose deadline is at or before `now` and deletes their keys."
  [st now]
  (let [dead (set (for [[id {:keys [deadline]}] (:leases st) :when (<= deadline now)] id))]
    (if (empty? dead)
      st
      (-> st
          (update :leases #(apply dissoc % dead))
          (delete-keys (sort (for [[k {:keys [lease]}] (:kv st) :when (dead lease)] k)))))))

(defn- with-prefix [m prefix]
  (filter #(str/starts-with? (key %) prefix) m))

(defn- change!
  "Applies `(f state now)` after expiring due leases; returns f's second value. `f` returns
  `[new-state result]`. Wakes the watch threads."
  [{:keys [state lock] :as s} f]
  (let [now (now-ms s)
        result (atom nil)]
    (swap! state (fn [st]
                   (let [[st' r] (f (expire-leases st now) now)]
                     (reset! result r)
                     st')))
    (locking lock (.notifyAll ^Object lock))
    @result))

(defn- read-state
  "The state after expiring due leases (reads also expire, as they would observe it in etcd)."
  [s]
  (change! s (fn [st _] [st st])))

(defn- member-error [msg]
  (store/store-error 5 msg {}))

(defn- run-watch
  "Feeds `ch` with the log entries under `prefix` from log index `from`, on this thread,
  until cancelled or the channel is closed."
  [{:keys [state lock]} prefix ch cancelled? from]
  (loop [idx from]
    (let [log (:log @state)
          n (count log)]
      (if (< idx n)
        (let [ev (nth log idx)]
          (when (or (not (str/starts-with? (:key ev) prefix))
                    (a/>!! ch ev))
            (recur (inc idx))))
        (when-not @cancelled?
          (locking lock
            (when (and (= n (count (:log @state))) (not @cancelled?))
              (.wait ^Object lock 1000)))
          (recur idx))))))

(defrecord MemStore [state lock clock watches]
  Closeable
  (close [this] (store/close this)))

(extend-type MemStore
  store/Store
  (get [s key] (get-in (read-state s) [:kv key]))

  (get-prefix [s prefix]
    (->> (with-prefix (:kv (read-state s)) prefix) (sort-by key) (mapv val)))

  (put! ([s key value] (store/put! s key value {}))
    ([s key value {:keys [lease]}]
     (change! s (fn [st _]
                  (when (and lease (not (get-in st [:leases lease])))
                    (throw (store/lease-not-found lease)))
                  (let [st' (append-change st :put key (str value) lease)]
                    [st' (:rev st')])))))

  (put-if-absent! ([s key value] (store/put-if-absent! s key value {}))
    ([s key value {:keys [lease]}]
     (change! s (fn [st _]
                  (when (and lease (not (get-in st [:leases lease])))
                    (throw (store/lease-not-found lease)))
                  (if (contains? (:kv st) key)
                    [st false]
                    [(append-change st :put key (str value) lease) true])))))

  (delete! [s key]
    (change! s (fn [st _]
                 (if (contains? (:kv st) key)
                   [(delete-keys st [key]) true]
                   [st false]))))

  (delete-prefix! [s prefix]
    (when (empty? prefix)
      (throw (ex-info "delete-prefix! needs a non-empty prefix"
                      {:type :shoal.store/error :code nil :message "empty prefix"})))
    (change! s (fn [st _]
                 (let [ks (sort (map key (with-prefix (:kv st) prefix)))]
                   [(delete-keys st ks) (count ks)]))))

  (grant-lease! [s ttl-seconds]
    (change! s (fn [st now]
                 (let [id (inc (:last-lease st))]
                   [(-> st
                        (assoc :last-lease id)
                        (assoc-in [:leases id] {:ttl (long ttl-seconds)
                                                :deadline (+ now (* 1000 (long ttl-seconds)))}))
                    id]))))

  (keep-alive! [s lease-id]
    (change! s (fn [st now]
                 (if-let [{:keys [ttl]} (get-in st [:leases lease-id])]
                   [(assoc-in st [:leases lease-id :deadline] (+ now (* 1000 ttl))) ttl]
                   (throw (store/lease-not-found lease-id))))))

  (revoke-lease! [s lease-id]
    (change! s (fn [st _]
                 (if (get-in st [:leases lease-id])
                   [(-> st
                        (update :leases dissoc lease-id)
                        (delete-keys (sort (for [[k v] (:kv st) :when (= lease-id (:lease v))] k))))
                    true]
                   [st false]))))

  (watch-prefix ([s prefix] (store/watch-prefix s prefix {}))
    ([s prefix {:keys [start-revision buffer] :or {buffer 256}}]
     (let [st (read-state s)
           from (if start-revision
                  (count (take-while #(< (:revision %) start-revision) (:log st)))
                  (count (:log st)))
           ch (a/chan buffer)
           cancelled? (atom false)
           thread-ref (atom nil)
           cancel (fn []
                    (when (compare-and-set! cancelled? false true)
                      (swap! (:watches s) dissoc ch)
                      (a/close! ch)
                      (locking (:lock s) (.notifyAll ^Object (:lock s)))))
           t (doto (Thread. ^Runnable (fn []
                                        (try (run-watch s prefix ch cancelled? from)
                                             (catch InterruptedException _ nil)
                                             (finally (cancel))))
                            (str "shoal-mem-watch " prefix))
               (.setDaemon true))]
       (reset! thread-ref t)
       (swap! (:watches s) assoc ch cancel)
       (.start t)
       (store/watch ch cancel))))

  (status [s]
    (let [st (read-state s)
          {:keys [id]} (first (:members st))]
      {:cluster-id (:cluster-id st) :member-id id :leader id :version "mem"
       :db-size (count (:kv st)) :raft-index (:rev st) :raft-term 1 :learner? false}))

  (members [s] (:members (read-state s)))

  (member-add! [s peer-urls learner?]
    (change! s (fn [st _]
                 (when (some #(seq (filter (set peer-urls) (:peer-urls %))) (:members st))
                   (throw (store/store-error 9 "etcdserver: Peer URLs already exists" {})))
                 (let [m {:id (random-hex) :name "" :peer-urls (vec peer-urls) :client-urls []
                          :learner? (boolean learner?)}]
                   [(update st :members conj m) m]))))

  (member-promote! [s member-id]
    (change! s (fn [st _]
                 (let [i (first (keep-indexed #(when (= member-id (:id %2)) %1) (:members st)))]
                   (cond
                     (nil? i) (throw (member-error "etcdserver: member not found"))
                     (not (get-in st [:members i :learner?]))
                     (throw (store/store-error 9 "etcdserver: can only promote a learner member" {}))
                     :else (let [st' (assoc-in st [:members i :learner?] false)]
                             [st' (:members st')]))))))

  (member-remove! [s member-id]
    (change! s (fn [st _]
                 (if (some #(= member-id (:id %)) (:members st))
                   (let [st' (update st :members #(filterv (fn [m] (not= member-id (:id m))) %))]
                     [st' (:members st')])
                   (throw (member-error "etcdserver: member not found"))))))

  (member-update! [s member-id peer-urls]
    (change! s (fn [st _]
                 (if (some #(= member-id (:id %)) (:members st))
                   (let [st' (update st :members
                                     #(mapv (fn [m] (if (= member-id (:id m))
                                                      (assoc m :peer-urls (vec peer-urls))
                                                      m)) %))]
                     [st' (:members st')])
                   (throw (member-error "etcdserver: member not found"))))))

  (close [s]
    (doseq [[_ cancel] @(:watches s)] (cancel))))

(defn create
  "A fresh in-memory store. Options:
  - `:clock` a no-argument fn returning the time in ms (default `System/currentTimeMillis`);
    a test passes `#(deref now)` with an atom it advances.
  - `:members` the initial member vector (default one voting member named \"mem\").
  - `:cluster-id` hex string (default random)."
  ([] (create {}))
  ([{:keys [clock members cluster-id]}]
   (let [id (random-hex)]
     (map->MemStore
      {:state (atom {:rev 1 :kv {} :log [] :leases {} :last-lease 0
                     :cluster-id (or cluster-id (random-hex))
                     :members (or members
                                  [{:id id :name "mem" :peer-urls ["http://mem:2380"]
                                    :client-urls ["http://mem:2379"] :learner? false}])})
       :lock (Object.)
       :clock (or clock #(System/currentTimeMillis))
       ;; channel -> cancel fn of each open watch
       :watches (atom {})}))))

(defn expire!
  "Expires every lease whose deadline is at or before `now-ms` (default: the store's clock),
  deleting its keys. Returns nil."
  ([s] (expire! s (now-ms s)))
  ([s now-ms]
   (swap! (:state s) expire-leases now-ms)
   (locking (:lock s) (.notifyAll ^Object (:lock s)))
   nil))
