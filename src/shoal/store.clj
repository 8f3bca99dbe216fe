(ns shoal.store
  "The store: the one place where the cluster agrees. A small key/value, lease, watch and
  membership protocol shaped after etcd v3, which is what runs underneath in production
  (`shoal.store.etcd`); `shoal.store.mem` is an in-memory twin for unit tests, and
  test/shoal/store_contract.clj is the suite both pass.

  Vocabulary
  - key, value: strings (UTF-8). Values are opaque: callers that store data encode it
    themselves (EDN with `pr-str`, read back with an explicit reader).
  - revision: a long that grows with every change of the store as a whole. `:mod-revision`
    of a key is the revision of its last write.
  - lease: a long id with a TTL in seconds. Keys put with `{:lease id}` disappear when the
    lease expires or is revoked. A lease expires unless `keep-alive!` is called within its TTL.
  - member: one etcd process of the consensus group, `{:id \"hex\" :name :peer-urls [..]
    :client-urls [..] :learner? bool}`. Ids are unsigned 64-bit numbers in lower-case hex
    without padding, as etcdctl prints them.

  Errors are ex-info with a namespaced `:type`:
  - `::unavailable`    no endpoint answered (refused, timeout, TLS failure, no leader);
                       ex-data has `:endpoints` and `:errors` (one line per endpoint tried).
  - `::error`          the store answered with an error; ex-data has `:code` (the gRPC code
                       etcd sends) and `:message`.
  - `::lease-not-found` the lease does not exist (never granted, expired or revoked).

  Every function of the protocol blocks the calling thread (network I/O in etcd): call them
  from threads or `a/thread`, never from go blocks."
  (:refer-clojure :exclude [get])
  (:require [clojure.core.async :as a]))

(defprotocol Store
  (get [s key]
    "The entry at `key`: `{:key :value :mod-revision :lease}` (`:lease` 0 when none), or nil.
    Blocks. Read-only.")
  (get-prefix [s prefix]
    "Every entry whose key starts with `prefix`, as a vector sorted by key (byte order).
    The empty prefix means every key. Blocks. Read-only.")
  (put! [s key value] [s key value opts]
    "Writes `value` at `key`; opts `{:lease id}` attaches the key to a lease (throws
    `::lease-not-found` if it does not exist). Returns the revision of the write. Blocks.
    Idempotent in effect (a repeated put leaves the same value, with a newer revision).")
  (put-if-absent! [s key value] [s key value opts]
    "Creates `key` only if it does not exist, atomically (an etcd txn comparing the create
    revision with 0). Opts as `put!`. Returns true if this call created it, false if the key
    was already there (its value is left alone). Blocks. Not idempotent: a second call returns
    false.")
  (delete! [s key]
    "Deletes `key`. Returns true if it existed. Blocks. Idempotent.")
  (delete-prefix! [s prefix]
    "Deletes every key starting with `prefix` (non-empty; use a real prefix). Returns the
    number deleted. Blocks. Idempotent.")
  (grant-lease! [s ttl-seconds]
    "Grants a lease with a TTL of `ttl-seconds` (a positive integer). Returns its id, a long.
    Blocks. Not idempotent: each call makes a new lease.")
  (keep-alive! [s lease-id]
    "Refreshes the lease once. Returns its TTL in seconds after the refresh; throws
    `::lease-not-found` if it expired or was revoked. Blocks. Idempotent. Callers run their
    own loop, typically every TTL/3 on a named thread.")
  (revoke-lease! [s lease-id]
    "Revokes the lease and deletes every key attached to it. Returns true if it existed,
    false if it was already gone. Blocks. Idempotent.")
  (watch-prefix [s prefix] [s prefix opts]
    "Watches every key starting with `prefix`. Returns a `Watch` (see below) once the watch is
    established: every change after that point is delivered, in revision order, on its
    channel `(:ch w)` as `{:type :put|:delete :key :value :revision}` (`:value` nil on delete).
    Opts: `:start-revision` (deliver changes from that revision on, if not compacted),
    `:buffer` (channel buffer, default 256; a slow reader slows the watch, nothing is dropped).
    Implementations read on their own named thread, never in a go block, and resume after a
    lost connection from the last delivered revision. When the watch cannot continue (history
    compacted) a final `{:type :error :error {:type ... }}` is delivered before the channel
    closes. `(.close w)` (or `with-open`) cancels it and closes the channel. Blocks until the
    watch is established; throws `::unavailable` if it cannot be.")
  (status [s]
    "Status of the member answering: `{:cluster-id \"hex\" :member-id \"hex\" :leader \"hex\"
    :version \"3.4.23\" :db-size n :raft-index n :raft-term n :learner? bool}`. Blocks.
    Read-only.")
  (members [s]
    "The members of the consensus group: `[{:id \"hex\" :name :peer-urls [..] :client-urls
    [..] :learner? bool}]`. A member added but not yet started has name \"\" and no client urls.
    Blocks. Read-only.")
  (member-add! [s peer-urls learner?]
    "Adds a member with `peer-urls` (a vector of URL strings), as a learner if `learner?`.
    Returns the new member map (its `:id` is what the new etcd process will be). Blocks. Not
    idempotent (etcd refuses a second add of the same peer URLs with `::error`).")
  (member-promote! [s member-id]
    "Promotes the learner `member-id` (hex) to a voting member; etcd refuses (`::error`) while
    the learner is not caught up. Returns the members after the change. Blocks.")
  (member-remove! [s member-id]
    "Removes member `member-id` (hex). Returns the members after the change. Blocks. Throws
    `::error` if no such member.")
  (member-update! [s member-id peer-urls]
    "Sets the peer URLs of member `member-id` (hex). Returns the members after the change.
    Blocks. Idempotent.")
  (close [s]
    "Releases the client's resources and cancels its watches. Idempotent."))

(defrecord Watch [ch cancel]
  java.io.Closeable
  (close [_] (cancel)))

(defn watch
  "Makes a `Watch` from its event channel and a no-argument cancel function (for
  implementations)."
  [ch cancel]
  (->Watch ch cancel))

(defn prefix-range-end
  "The exclusive end of the key range holding every key that starts with `prefix` (etcd's
  rule on bytes: increment the last byte below 0xff, dropping the 0xff bytes after it). Returns
  a byte array; `[0]` (every key) when the prefix is empty or all 0xff."
  ^bytes [^String prefix]
  (let [b (.getBytes prefix "UTF-8")]
    (loop [i (dec (alength b))]
      (cond
        (neg? i) (byte-array [0])
        (= (aget b i) (unchecked-byte 0xff)) (recur (dec i))
        :else (let [end (java.util.Arrays/copyOf b (inc i))]
                (aset end i (unchecked-byte (inc (aget end i))))
                end)))))

(defn unavailable
  "An `::unavailable` ex-info (for implementations)."
  [msg data]
  (ex-info msg (assoc data :type ::unavailable)))

(defn store-error
  "An `::error` ex-info for an error the store answered with (for implementations)."
  [code message data]
  (ex-info (str "store error " code ": " message)
           (merge data {:type ::error :code code :message message})))

(defn lease-not-found
  "A `::lease-not-found` ex-info (for implementations)."
  [lease-id]
  (ex-info (str "lease not found: " lease-id) {:type ::lease-not-found :lease lease-id}))

(defn error-type
  "The `:type` of an exception's ex-data, or nil."
  [e]
  (:type (ex-data e)))

(defn read-events
  "Takes up to `n` events from a watch's channel, waiting at most `timeout-ms` in all. A
  convenience for tests and REPL sessions; blocks."
  [w n timeout-ms]
  (let [deadline (a/timeout timeout-ms)]
    (loop [acc []]
      (if (= n (count acc))
        acc
        (let [[v _] (a/alts!! [(:ch w) deadline])]
          (if (nil? v) acc (recur (conj acc v))))))))
