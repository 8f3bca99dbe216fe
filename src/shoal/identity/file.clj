(ns shoal.identity.file
  "The `:identity` component, keeping the node's key and certificates as files in its data dir:

      <data-dir>/identity/        (0700)
        node.key                  node private key, PKCS#8 PEM (0600); made once, kept forever
        node.crt                  node certificate, signed by the cluster CA; replaced at renewal
        ca.crt                    the cluster CA certificate (etcd's --trusted-ca-file)
        operator-ca.crt           the operator CA certificate, when configured

  At start the key is reused when present (so the node id survives restarts, re-IPs and
  renewals) and generated otherwise. The certificate is reused when it still verifies against
  the cluster CA, belongs to the key, is inside its validity and before its renewal point, and its
  SANs cover the configured hosts; otherwise a new one is issued for the same key (expiry while
  the node was down is thus a non-event). The node signs its own certificate: the cluster CA key
  is part of the node image (see doc/identity.md).

  A daemon thread `shoal-identity-renewal` renews the certificate at a random 50–80 % of its life,
  with no restart: the new certificate is written atomically (temp file + rename), then swapped
  into the state atom that the TLS key managers read at each handshake, then `on-renew!`
  listeners run. A failed renewal is logged at WARN and retried with jittered exponential
  backoff; it never stops the node. Interrupting the thread (`stop`, `.close`) ends it."
  (:require [clojure.java.io :as io]
            [clojure.tools.logging :as log]
            [shoal.identity :as id]
            [shoal.loop :as lp]
            [shoal.tls :as tls])
  (:import (java.security PrivateKey)
           (java.security.cert X509Certificate)
           (java.util Date)
           (javax.net.ssl SSLContext)))

(def default-lifetime-ms
  "Node certificate lifetime when `:lifetime-ms` is not given: one day. Short on purpose; renewal
  is local (the node holds the cluster CA) and automatic."
  (* 24 3600 1000))

(defn files
  "The identity files under data-dir (strings): `{:dir :key :cert :ca :operator-ca}`."
  [data-dir]
  (let [dir (io/file data-dir "identity")]
    {:dir (str dir)
     :key (str (io/file dir "node.key"))
     :cert (str (io/file dir "node.crt"))
     :ca (str (io/file dir "ca.crt"))
     :operator-ca (str (io/file dir "operator-ca.crt"))}))

(defn- load-ca
  "The CA material named by opts' `:ca`; checks that the cluster CA key matches its cert."
  [{:keys [cert key operator-cert]}]
  (when-not (and cert key)
    (throw (ex-info "identity needs :ca {:cert path :key path}"
                    {:type :shoal.identity/bad-config :ca {:cert cert :key key}})))
  (let [ca-cert (id/read-cert cert)
        ca-key (id/read-key key)]
    (when-not (id/matching-key? ca-key ca-cert)
      (throw (ex-info (str "cluster CA key " key " does not belong to " cert)
                      {:type :shoal.identity/ca-mismatch :cert cert :key key})))
    {:ca-cert ca-cert :ca-key ca-key
     :operator-ca-cert (when operator-cert (id/read-cert operator-cert))}))

(defn- load-or-create-key!
  "The node key at path, generated and written (0600) on first start. A key file that exists but
  cannot be read is an error, not a reason to become another node."
  ^PrivateKey [path]
  (if (.exists (io/file path))
    (id/read-key path)
    (let [k (.getPrivate (id/generate-key-pair))]
      (id/write-file! path (id/pem-string k) {:secret? true})
      (log/infof "identity %s: generated node key %s" (id/node-id (id/public-key-of k)) path)
      k)))

(defn- cert-problem
  "Why the certificate at path can't be reused (a string), or nil when it can."
  [path ^PrivateKey k ca-cert hosts lifetime-ms now r]
  (if-not (.exists (io/file path))
    "no certificate yet"
    (let [cert (try (id/read-cert path) (catch clojure.lang.ExceptionInfo e e))]
      (cond
        (instance? Exception cert) (str "unreadable: " (ex-message cert))
        (not (id/matching-key? k cert)) "it belongs to another key"
        (not (id/signed-by? cert ca-cert)) "it is not signed by the cluster CA"
        (>= now (.getTime (.getNotAfter ^X509Certificate cert))) "it has expired"
        (id/needs-renewal? cert now (id/renew-at cert r)) "it is past its renewal point"
        (> (- (.getTime (.getNotAfter ^X509Certificate cert)) now) (+ lifetime-ms 60000))
        "it outlives the configured lifetime"
        (not (id/covers-hosts? cert (concat hosts ["localhost" "127.0.0.1"])))
        "its SANs do not cover the hosts"))))

(defn- issue
  "A node certificate for key k, issued at now."
  [{:keys [ca-cert ca-key]} ^PrivateKey k hosts lifetime-ms now]
  (let [pub (id/public-key-of k)
        {:keys [dns ips]} (id/split-hosts hosts)]
    (id/issue-cert {:ca-cert ca-cert :ca-key ca-key :public-key pub :subject-cn (id/node-id pub)
                    :dns dns :ips ips :not-before (Date. (long now)) :lifetime-ms lifetime-ms
                    :client? true :server? true})))

(defn- describe [^X509Certificate cert]
  (str "serial " (.toString (.getSerialNumber cert) 16) " valid until " (.toInstant (.getNotAfter cert))))

(declare stop)

(defrecord FileIdentity [id state hosts listeners lock ca opts server-ctx client-ctx thread]
  id/Identity
  (current [_] @state)
  (server-ssl-context [_] server-ctx)
  (client-ssl-context [_] client-ctx)
  (on-renew! [this f] (swap! listeners conj f) this)
  (renew! [_]
    (locking lock
      (let [{:keys [key files]} @state
            {:keys [clock lifetime-ms]} opts
            cert (issue ca key @hosts lifetime-ms (clock))]
        (id/write-file! (:cert files) (id/pem-string cert) {:replace? true})
        (let [cur (swap! state assoc :cert cert :chain [cert])]
          (log/infof "identity %s: renewed certificate, %s" id (describe cert))
          (doseq [f @listeners]
            (try (f cur)
                 (catch Exception e
                   (log/warnf e "identity %s: on-renew listener failed" id))))
          cur))))
  (add-hosts! [this new-hosts]
    (locking lock
      (swap! hosts #(vec (distinct (concat % (map str new-hosts)))))
      (if (id/covers-hosts? (:cert @state) @hosts)
        @state
        (id/renew! this))))

  java.io.Closeable
  (close [this] (stop this)))

(defmethod print-method FileIdentity [^FileIdentity c ^java.io.Writer w]
  ;; The default record printer would dump keys, contexts and atoms into a REPL.
  (.write w (str "#shoal.identity.file.FileIdentity{:id " (pr-str (:id c)) "}")))

(defn- interrupted? [e]
  (or (instance? InterruptedException e)
      (instance? java.nio.channels.ClosedByInterruptException e)
      (.isInterrupted (Thread/currentThread))))

(defn- renewal-loop
  "Body of the renewal thread. Sleeps in slices of at most poll-ms so that a controlled clock
  that jumps is noticed, and recomputes the renewal point whenever the certificate changed (also
  by `renew!`/`add-hosts!` from other threads)."
  [c]
  (let [{:keys [clock rand poll-ms retry-ms max-retry-ms]} (:opts c)
        state (:state c)
        id (:id c)]
    (try
      (loop [cert nil due 0 failures 0]
        (when-not (.isInterrupted (Thread/currentThread))
          (let [now-cert (:cert @state)]
            (if-not (identical? now-cert cert)
              (let [due (long (id/renew-at now-cert (rand)))]
                (log/debugf "identity %s: next renewal at %s" id (java.time.Instant/ofEpochMilli due))
                (recur now-cert due 0))
              (let [now (clock)]
                (if (< now due)
                  (do (Thread/sleep (long (max 1 (min poll-ms (- due now)))))
                      (recur cert due failures))
                  (let [err (try (id/renew! c) nil (catch Exception e e))]
                    (cond
                      (nil? err) (recur cert due 0)
                      (interrupted? err) nil
                      :else (let [b (lp/backoff-ms retry-ms max-retry-ms failures)]
                              (log/warnf err "identity %s: renewal failed, retrying in %d ms" id b)
                              (recur cert (long (+ (clock) b)) (inc failures)))))))))))
      (catch InterruptedException _ nil))
    (log/infof "identity %s: renewal thread stopped" id)))

(defn start
  "Starts the `:identity` component (see the namespace doc). opts:

      {:data-dir \"/var/lib/shoal\"
       :ca {:cert \"cluster-ca.crt\" :key \"cluster-ca.key\" :operator-cert \"operator-ca.crt\"}
       :lifetime-ms 86400000           ; node certificate lifetime (default one day)
       :hosts [\"node-1.example\" \"10.0.0.5\"] ; extra SANs (localhost, 127.0.0.1 always)
       :clock (fn [] now-ms)            ; default System/currentTimeMillis
       :rand (fn [] double-in-0-1)      ; default clojure.core/rand
       :poll-ms 1000 :retry-ms 1000 :max-retry-ms 60000} ; renewal thread timing

  deps are unused. Returns a started FileIdentity (implements `shoal.identity/Identity` and
  Closeable): fields `:id` (node id) and `:state` (an atom holding the `current` map, which may
  be watched). Throws `:shoal.identity/bad-config`, `:shoal.identity/missing-file`,
  `:shoal.identity/bad-pem` or `:shoal.identity/ca-mismatch` when the CA or key material is
  unusable; nothing is started then."
  [opts _deps]
  (let [{:keys [data-dir ca hosts lifetime-ms] :as opts}
        (merge {:clock #(System/currentTimeMillis) :rand rand :lifetime-ms default-lifetime-ms
                :poll-ms 1000 :retry-ms 1000 :max-retry-ms 60000}
               (into {} (remove (comp nil? val) opts)))]
    (when-not data-dir
      (throw (ex-info "identity needs :data-dir" {:type :shoal.identity/bad-config})))
    (when-not (and (integer? lifetime-ms) (pos? lifetime-ms))
      (throw (ex-info "identity :lifetime-ms must be a positive integer"
                      {:type :shoal.identity/bad-config :lifetime-ms lifetime-ms})))
    (let [{:keys [clock rand]} opts
          fs (files data-dir)
          ca-material (load-ca ca)
          {:keys [ca-cert operator-ca-cert]} ca-material
          _ (id/ensure-private-dir! (:dir fs))
          k (load-or-create-key! (:key fs))
          node-id (id/node-id (id/public-key-of k))
          hosts (vec (distinct (map str hosts)))
          now (clock)
          problem (cert-problem (:cert fs) k ca-cert hosts lifetime-ms now (rand))
          cert (if problem
                 (let [c (issue ca-material k hosts lifetime-ms now)]
                   (id/write-file! (:cert fs) (id/pem-string c) {:replace? true})
                   (log/infof "identity %s: issued certificate (%s), %s" node-id problem (describe c))
                   c)
                 (let [c (id/read-cert (:cert fs))]
                   (log/infof "identity %s: reusing certificate, %s" node-id (describe c))
                   c))
          _ (id/write-file! (:ca fs) (id/pem-string ca-cert) {:replace? true})
          _ (if operator-ca-cert
              (id/write-file! (:operator-ca fs) (id/pem-string operator-ca-cert) {:replace? true})
              (io/delete-file (:operator-ca fs) true))
          state (atom {:id node-id :key k :cert cert :chain [cert]
                       :ca-cert ca-cert :operator-ca-cert operator-ca-cert
                       :files (cond-> (select-keys fs [:key :cert :ca :operator-ca])
                                (nil? operator-ca-cert) (assoc :operator-ca nil))})
          server-ctx (tls/ssl-context {:key-source state :trust [ca-cert operator-ca-cert]
                                       :need-client-auth? true})
          client-ctx (tls/ssl-context {:key-source state :trust [ca-cert]})
          c (map->FileIdentity {:id node-id :state state :hosts (atom hosts) :listeners (atom [])
                                :lock (Object.) :ca ca-material :opts opts
                                :server-ctx server-ctx :client-ctx client-ctx})
          t (doto (Thread. ^Runnable #(renewal-loop c) "shoal-identity-renewal")
              (.setDaemon true)
              (.start))]
      (assoc c :thread t))))

;; The protocol's functions, also reachable from this namespace for callers that hold the
;; component and require only it.

(defn current
  "`shoal.identity/current`: the identity map now in force (`{:id :key :cert :chain :ca-cert
  :operator-ca-cert :files {:key :cert :ca :operator-ca}}`)."
  [c]
  (id/current c))

(defn server-ssl-context
  "`shoal.identity/server-ssl-context`: presents the node certificate, requires a client
  certificate from the cluster CA or the operator CA."
  ^SSLContext [c]
  (id/server-ssl-context c))

(defn client-ssl-context
  "`shoal.identity/client-ssl-context`: presents the node certificate, trusts the cluster CA."
  ^SSLContext [c]
  (id/client-ssl-context c))

(defn on-renew!
  "`shoal.identity/on-renew!`: registers `(f current-map)`, called after each renewal."
  [c f]
  (id/on-renew! c f))

(defn add-hosts!
  "`shoal.identity/add-hosts!`: makes the certificate cover more names/IPs (reissues if needed)."
  [c hosts]
  (id/add-hosts! c hosts))

(defn renew!
  "`shoal.identity/renew!`: issues and swaps in a new certificate for the same key now."
  [c]
  (id/renew! c))

(defn stop
  "Stops the renewal thread (interrupts it and waits up to 5 s). Idempotent; the files stay."
  [c]
  (when-let [^Thread t (:thread c)]
    (.interrupt t)
    (.join t 5000))
  c)
