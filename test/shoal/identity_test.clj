(ns shoal.identity-test
  "Unit tests of shoal.identity (keys, PEM, certificates, renewal timing), shoal.identity.ca
  (CA files) and shoal.identity.file (the :identity component: issuance, reuse, reissue, and
  automatic renewal observed through a real TLS handshake on loopback)."
  (:require [clojure.java.io :as io]
            [clojure.test :refer [deftest is testing]]
            [clojure.test.check.clojure-test :refer [defspec]]
            [clojure.test.check.generators :as gen]
            [clojure.test.check.properties :as prop]
            [shoal.identity :as id]
            [shoal.identity.ca :as ca]
            [shoal.identity.file :as idf]
            [shoal.test.util :as u :refer [with-temp-dir]]
            [shoal.tls :as tls]
            [shoal.test.tls :as tt])
  (:import (java.nio.file Files LinkOption)
           (java.nio.file.attribute PosixFilePermissions)
           (java.security.cert X509Certificate)
           (java.util Date)
           (javax.net.ssl SSLContext)))

;; ---------------------------------------------------------------------------------------------
;; Helpers

(defn- mode [path]
  (PosixFilePermissions/toString
   (Files/getPosixFilePermissions (.toPath (io/file path)) (make-array LinkOption 0))))

(defn- make-secrets!
  "Both CAs and an operator certificate in dir, as bin/make-cas makes them."
  [dir]
  {:cluster (ca/create-ca! {:dir dir :kind :cluster})
   :operator (ca/create-ca! {:dir dir :kind :operator})
   :alice (ca/issue-operator-cert! {:dir dir :name "alice"})})

(defn- id-opts [secrets data-dir & {:as more}]
  (merge {:data-dir (str data-dir)
          :ca {:cert (-> secrets :cluster :cert) :key (-> secrets :cluster :key)
               :operator-cert (-> secrets :operator :cert)}
          :lifetime-ms (* 24 3600 1000)
          :hosts ["node-1.test" "10.9.8.7"]}
         more))

(defn- serial [^X509Certificate c] (.getSerialNumber c))

(defn- operator-context
  "A fresh client SSLContext with the operator certificate, trusting the cluster CA. Fresh, so no
  TLS session is resumed and each handshake sees the server's current certificate."
  [secrets]
  (tls/ssl-context {:key-source (atom {:key (id/read-key (-> secrets :alice :key))
                                       :cert (id/read-cert (-> secrets :alice :cert))})
                    :trust [(id/read-cert (-> secrets :cluster :cert))]}))

;; ---------------------------------------------------------------------------------------------
;; Pure helpers

(deftest node-id-is-the-key-fingerprint
  (let [kp (id/generate-key-pair)
        nid (id/node-id (.getPublic kp))]
    (is (re-matches #"[0-9a-f]{32}" nid))
    (is (= nid (id/node-id (id/public-key-of (.getPrivate kp)))) "derivable from the private key")
    (is (not= nid (id/node-id (.getPublic (id/generate-key-pair)))))))

(defn- sh-out
  "stdout of a command (with stdin text), or a test failure."
  [cmd & [stdin]]
  (let [p (.start (ProcessBuilder. ^java.util.List cmd))]
    (with-open [w (io/writer (.getOutputStream p))] (when stdin (.write w ^String stdin)))
    (let [out (slurp (.getInputStream p))]
      (is (zero? (.waitFor p)) (str cmd))
      out)))

(deftest pem-round-trips
  (let [kp (id/generate-key-pair)
        ca-kp (id/generate-key-pair)
        ca-cert (id/ca-cert {:key-pair ca-kp :name "t" :lifetime-ms 100000})
        pkcs8 (id/pem-string (.getPrivate kp))]
    (is (re-find #"-----BEGIN PRIVATE KEY-----" pkcs8))
    (is (= (seq (.getEncoded (.getPrivate kp)))
           (seq (.getEncoded ^java.security.PrivateKey (first (id/read-pem pkcs8))))))
    (is (= ca-cert (first (id/read-pem (id/pem-string ca-cert)))))
    (testing "SEC1 \"EC PRIVATE KEY\" as openssl writes it"
      (let [sec1 (sh-out ["openssl" "ecparam" "-name" "prime256v1" "-genkey" "-noout"])
            pub (sh-out ["openssl" "ec" "-pubout"] sec1)
            k (first (id/read-pem sec1))]
        (is (re-find #"-----BEGIN EC PRIVATE KEY-----" sec1))
        (is (instance? java.security.interfaces.ECPrivateKey k))
        (is (id/matching-key? k (first (id/read-pem pub))))
        (is (= (id/node-id (first (id/read-pem pub))) (id/node-id (id/public-key-of k))))))
    (is (= :shoal.identity/bad-pem
           (:type (ex-data (try (id/read-pem "-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n")
                                (catch Exception e e))))))))

(deftest issued-certificates
  (let [ca-kp (id/generate-key-pair)
        ca-cert (id/ca-cert {:key-pair ca-kp :name "test CA" :lifetime-ms 3600000})
        kp (id/generate-key-pair)
        t0 (Date.)
        c (id/issue-cert {:ca-cert ca-cert :ca-key (.getPrivate ca-kp) :public-key (.getPublic kp)
                          :subject-cn "n1" :dns ["a.test"] :ips ["10.0.0.1"] :not-before t0
                          :lifetime-ms 600000})]
    (is (id/signed-by? c ca-cert))
    (is (= "SHA256withECDSA" (.getSigAlgName c)))
    (is (pos? (.signum (serial c))))
    ;; X.509 times have whole seconds.
    (is (= (quot (- (.getTime t0) 60000) 1000) (quot (.getTime (.getNotBefore c)) 1000))
        "backdated one minute")
    (is (= (quot (+ (.getTime t0) 600000) 1000) (quot (.getTime (.getNotAfter c)) 1000)))
    (is (= #{"serverAuth" "clientAuth"}
           (set (map {"1.3.6.1.5.5.7.3.1" "serverAuth" "1.3.6.1.5.5.7.3.2" "clientAuth"}
                     (.getExtendedKeyUsage c)))))
    (is (= [true false true false false false false false false]
           (vec (.getKeyUsage c))) "digitalSignature + keyEncipherment")
    (is (= -1 (.getBasicConstraints c)))
    (is (some? (.getExtensionValue c "2.5.29.14")) "subject key identifier")
    (is (some? (.getExtensionValue c "2.5.29.35")) "authority key identifier")
    (is (id/covers-hosts? c ["a.test" "10.0.0.1" "localhost" "127.0.0.1"]))
    (is (not (id/covers-hosts? c ["b.test"])))
    (testing "client-only certificates carry no SANs and only clientAuth"
      (let [oc (id/issue-cert {:ca-cert ca-cert :ca-key (.getPrivate ca-kp)
                               :public-key (.getPublic kp) :subject-cn "alice"
                               :lifetime-ms 600000 :server? false})]
        (is (nil? (.getSubjectAlternativeNames oc)))
        (is (= ["1.3.6.1.5.5.7.3.2"] (vec (.getExtendedKeyUsage oc))))
        (is (= "alice" (id/subject-cn oc)))))
    (testing "short lifetimes are backdated by at most a quarter of their life"
      (let [s (id/issue-cert {:ca-cert ca-cert :ca-key (.getPrivate ca-kp)
                              :public-key (.getPublic kp) :subject-cn "n1" :not-before t0
                              :lifetime-ms 4000})]
        (is (= (quot (- (.getTime t0) 1000) 1000) (quot (.getTime (.getNotBefore s)) 1000)))))))

(deftest renewal-timing
  (let [ca-kp (id/generate-key-pair)
        ca-cert (id/ca-cert {:key-pair ca-kp :name "t" :lifetime-ms 3600000})
        c (id/issue-cert {:ca-cert ca-cert :ca-key (.getPrivate ca-kp)
                          :public-key (.getPublic (id/generate-key-pair)) :subject-cn "n"
                          :lifetime-ms 1000000})
        nb (.getTime (.getNotBefore c))
        life (- (.getTime (.getNotAfter c)) nb)]
    (is (= (+ nb (quot life 2)) (id/renew-at c 0.0)))
    (is (= (+ nb (quot (* 8 life) 10)) (id/renew-at c 1.0)))
    (is (= (id/renew-at c 0.0) (id/renew-at c -3.0)) "clamped")
    (is (= (id/renew-at c 1.0) (id/renew-at c 7.0)) "clamped")
    (is (not (id/needs-renewal? c (+ nb 10) (id/renew-at c 0.5))))
    (is (id/needs-renewal? c (id/renew-at c 0.5) (id/renew-at c 0.5)))
    (is (id/needs-renewal? c (.getTime (.getNotAfter c)) Long/MAX_VALUE) "expired")
    (is (id/needs-renewal? c (dec nb) Long/MAX_VALUE) "not yet valid")))

(defspec renew-at-is-within-50-to-80-percent-of-the-lifetime 500
  (prop/for-all [nb (gen/large-integer* {:min 0 :max 4000000000000})
                 life (gen/large-integer* {:min 2 :max 100000000000})
                 r gen/double]
    (let [at (id/renew-at-ms nb (+ nb life) r)]
      (<= (+ nb (* 0.5 life)) at (+ nb (* 0.8 life))))))

;; ---------------------------------------------------------------------------------------------
;; CA files

(deftest ca-creation-writes-files-with-modes-and-refuses-overwrite
  (with-temp-dir [tmp "shoal-ca"]
    (let [dir (io/file tmp "secrets")
          made (ca/create-ca! {:dir dir :kind :cluster :name "test cluster CA"})]
      (is (= "rwx------" (mode dir)))
      (is (= (str (io/file dir "cluster-ca.crt")) (:cert made)))
      (is (= "rw-------" (mode (:key made))))
      (is (= "rw-r--r--" (mode (:cert made))))
      (let [cert (id/read-cert (:cert made))]
        (is (= "test cluster CA" (id/subject-cn cert)))
        (is (id/signed-by? cert cert) "self-signed")
        (is (= 0 (.getBasicConstraints cert)) "a CA of end entities only")
        (is (id/matching-key? (id/read-key (:key made)) cert)))
      (let [before (slurp (:key made))
            e (try (ca/create-ca! {:dir dir :kind :cluster}) (catch Exception e e))]
        (is (= :shoal.identity/exists (:type (ex-data e))))
        (is (= before (slurp (:key made))) "the key is untouched"))
      (testing "operator certificates"
        (ca/create-ca! {:dir dir :kind :operator})
        (let [op (ca/issue-operator-cert! {:dir dir :name "alice" :lifetime-days 30})
              cert (id/read-cert (:cert op))]
          (is (= "rw-------" (mode (:key op))))
          (is (id/signed-by? cert (id/read-cert (str (io/file dir "operator-ca.crt")))))
          (is (= ["1.3.6.1.5.5.7.3.2"] (vec (.getExtendedKeyUsage cert))) "clientAuth only")
          (is (= :shoal.identity/exists
                 (:type (ex-data (try (ca/issue-operator-cert! {:dir dir :name "alice"})
                                      (catch Exception e e)))))))))))

;; ---------------------------------------------------------------------------------------------
;; The component

(deftest first-start-issues-and-restart-reuses
  (with-temp-dir [tmp "shoal-id"]
    (let [secrets (make-secrets! (io/file tmp "secrets"))
          data (io/file tmp "data")
          ca-cert (id/read-cert (-> secrets :cluster :cert))
          first-cur (with-open [c (idf/start (id-opts secrets data) {})]
                      (id/current c))
          {:keys [files cert]} first-cur]
      (testing "first start"
        (is (re-matches #"[0-9a-f]{32}" (:id first-cur)))
        (is (= "rw-------" (mode (:key files))))
        (is (= "rwx------" (mode (io/file data "identity"))))
        (is (= cert (id/read-cert (:cert files))))
        (is (= ca-cert (id/read-cert (:ca files))))
        (is (= (id/read-cert (-> secrets :operator :cert)) (id/read-cert (:operator-ca files))))
        (is (id/signed-by? cert ca-cert))
        (.verify ^X509Certificate cert (.getPublicKey ca-cert))
        (is (= (:id first-cur) (id/node-id cert) (id/subject-cn cert)))
        (is (id/covers-hosts? cert ["node-1.test" "10.9.8.7" "localhost" "127.0.0.1"])))
      (testing "restart reuses key and certificate"
        (with-open [c (idf/start (id-opts secrets data) {})]
          (is (= (:id first-cur) (:id c) (:id (id/current c))))
          (is (= cert (:cert (id/current c))))))
      (testing "other hosts: new certificate, same id"
        (with-open [c (idf/start (id-opts secrets data :hosts ["node-1.other" "192.168.7.7"]) {})]
          (let [{new-cert :cert new-id :id} (id/current c)]
            (is (= (:id first-cur) new-id))
            (is (not= (serial cert) (serial new-cert)))
            (is (id/covers-hosts? new-cert ["node-1.other" "192.168.7.7" "localhost" "127.0.0.1"]))
            (is (= new-cert (id/read-cert (:cert files))))
            (testing "add-hosts! reissues only when needed"
              (is (= new-cert (:cert (id/add-hosts! c ["node-1.other"]))))
              (let [more (:cert (id/add-hosts! c ["10.1.1.1"]))]
                (is (not= new-cert more))
                (is (id/covers-hosts? more ["10.1.1.1" "node-1.other"]))
                (is (= (:id first-cur) (id/node-id more)))))))))))

(deftest expired-or-due-certificates-are-reissued-at-start
  (with-temp-dir [tmp "shoal-id"]
    (let [secrets (make-secrets! (io/file tmp "secrets"))
          data (io/file tmp "data")
          day (* 24 3600 1000)
          t0 (System/currentTimeMillis)
          clock (atom t0)
          opts (id-opts secrets data :clock #(deref clock) :lifetime-ms day)
          c1 (with-open [c (idf/start opts {})] (id/current c))]
      (testing "expired while the node was down"
        (reset! clock (+ t0 (* 3 day)))
        (with-open [c (idf/start opts {})]
          (let [{:keys [cert] node :id} (id/current c)]
            (is (= (:id c1) node))
            (is (not= (serial (:cert c1)) (serial cert)))
            (is (< (.getTime (.getNotBefore cert)) @clock (.getTime (.getNotAfter cert))))
            (is (= cert (id/read-cert (-> c1 :files :cert)))))))
      (testing "past the renewal point (over 80 % of its life)"
        (let [before (id/read-cert (-> c1 :files :cert))]
          (reset! clock (+ (.getTime (.getNotBefore before))
                           (long (* 0.81 (- (.getTime (.getNotAfter before))
                                            (.getTime (.getNotBefore before)))))))
          (with-open [c (idf/start opts {})]
            (is (not= (serial before) (serial (:cert (id/current c)))))
            (is (= (:id c1) (:id c))))))
      (testing "a certificate from another CA is replaced"
        (with-temp-dir [other "shoal-other"]
          (let [foreign (ca/create-ca! {:dir other :kind :cluster})
                opts2 (assoc opts :ca {:cert (:cert foreign) :key (:key foreign)})]
            (with-open [c (idf/start opts2 {})]
              (is (= (:id c1) (:id c)))
              (is (id/signed-by? (:cert (id/current c)) (id/read-cert (:cert foreign))))
              (is (nil? (-> (id/current c) :files :operator-ca))))))))))

(deftest bad-ca-material-is-refused
  (with-temp-dir [tmp "shoal-id"]
    (let [secrets (make-secrets! (io/file tmp "secrets"))
          data (io/file tmp "data")
          err (fn [opts] (:type (ex-data (try (idf/start opts {}) (catch Exception e e)))))]
      (is (= :shoal.identity/missing-file
             (err (assoc-in (id-opts secrets data) [:ca :cert] (str (io/file tmp "nope.crt"))))))
      (is (= :shoal.identity/ca-mismatch
             (err (assoc-in (id-opts secrets data) [:ca :key] (-> secrets :operator :key)))))
      (is (= :shoal.identity/bad-config (err (dissoc (id-opts secrets data) :data-dir)))))))

(deftest automatic-renewal-without-restart
  (with-temp-dir [tmp "shoal-id"]
    (let [secrets (make-secrets! (io/file tmp "secrets"))
          data (io/file tmp "data")
          renewed (promise)]
      (with-open [c (idf/start (id-opts secrets data :lifetime-ms 4000 :poll-ms 50) {})]
        (id/on-renew! c #(deliver renewed %))
        (let [{cert1 :cert id1 :id files :files} (id/current c)
              file1 (slurp (:cert files))
              server (tt/serve (id/server-ssl-context c))]
          (try
            (let [before (tt/connect (operator-context secrets) (:port server))]
              (is (= cert1 (first (:server-certs before))) "before renewal: the first certificate")
              (is (= 1 (:read before))))
            (is (u/poll 8000 20 #(not= cert1 (:cert (id/current c)))) "renewed by itself")
            (let [{cert2 :cert id2 :id} (id/current c)]
              (is (not= (serial cert1) (serial cert2)))
              (is (= id1 id2 (id/node-id cert2)))
              (is (= cert2 (:cert (deref renewed 1000 nil))) "on-renew! listener called")
              (is (not= file1 (slurp (:cert files))) "file on disk replaced")
              (is (u/poll 2000 20 #(= (:cert (id/current c)) (id/read-cert (:cert files)))))
              (is (< (.getTime (.getNotBefore cert2)) (System/currentTimeMillis)
                     (.getTime (.getNotAfter cert2))))
              (let [after (tt/connect (operator-context secrets) (:port server))
                    presented (first (:server-certs after))]
                (is (= 1 (:read after)))
                (is (some? presented))
                (is (not= cert1 presented) "same server, new handshake: the renewed certificate")
                (is (= id1 (id/node-id presented)))))
            (finally ((:close server)))))))))

(deftest failing-renewal-is-retried-and-close-stops-the-thread
  (with-temp-dir [tmp "shoal-id"]
    (let [secrets (make-secrets! (io/file tmp "secrets"))
          data (io/file tmp "data")
          c (idf/start (id-opts secrets data :lifetime-ms 4000 :poll-ms 20 :retry-ms 50
                                :max-retry-ms 200)
                       {})
          {cert1 :cert files :files} (id/current c)
          cert-path (io/file (:cert files))
          thread ^Thread (:thread c)]
      (try
        (is (= "shoal-identity-renewal" (.getName thread)))
        (is (.isDaemon thread))
        ;; A non-empty directory where node.crt should be: every rename onto it fails.
        (.delete cert-path)
        (.mkdirs (io/file cert-path "blocker"))
        (Thread/sleep 3500)
        (is (= cert1 (:cert (id/current c))) "failed renewals leave the old certificate in use")
        (is (.isAlive thread) "the renewal thread survives failures")
        (u/delete-tree cert-path)
        (is (u/poll 3000 20 #(not= cert1 (:cert (id/current c)))) "then a retry succeeds")
        (is (u/poll 1000 20 #(.isFile cert-path)))
        (finally (.close ^java.io.Closeable c)))
      (is (not (.isAlive thread)) "close stops the renewal thread"))))
