(ns shoal.identity
  "Identity of nodes and operators (layer 2): key pairs, certificates, the node id, and the
  protocol of the `:identity` component.

  Vocabulary:
  - *cluster CA*: self-signed CA whose cert and key are baked into the node image; it signs node
    certificates. Trusting it is what makes a peer a member of *this* cluster.
  - *operator CA*: a separate CA whose key never leaves the operators' secrets; it signs operator
    (client-only) certificates. Nodes only hold its certificate.
  - *node id*: lowercase hex of the first 16 bytes of SHA-256 over the node public key's
    SubjectPublicKeyInfo DER. It is the key's fingerprint, never derived from an address, so it
    survives IP changes and certificate renewals (renewal keeps the key).
  - *renewal point*: a random instant at 50–80 % of a certificate's validity after which it is
    replaced (as Swarm does), so that no cluster-wide certificate cliff exists.

  The functions here are pure or touch only the files they are given. Errors are ex-info with
  `:type` in this namespace: `::bad-pem`, `::missing-file`, `::exists`, `::ca-mismatch`."
  (:require [clojure.java.io :as io]
            [clojure.string :as str])
  (:import (java.io File FileOutputStream StringReader StringWriter)
           (java.math BigInteger)
           (java.net InetAddress)
           (java.nio.charset StandardCharsets)
           (java.nio.file CopyOption Files LinkOption OpenOption Path StandardCopyOption
                          StandardOpenOption)
           (java.nio.file.attribute FileAttribute PosixFilePermissions)
           (java.security KeyFactory KeyPair KeyPairGenerator MessageDigest PrivateKey PublicKey
                          SecureRandom)
           (java.security.cert X509Certificate)
           (java.security.interfaces ECPrivateKey)
           (java.security.spec ECGenParameterSpec ECPoint ECPublicKeySpec PKCS8EncodedKeySpec)
           (java.util Date)
           (javax.security.auth.x500 X500Principal)
           (org.bouncycastle.asn1.pkcs PrivateKeyInfo)
           (org.bouncycastle.asn1.x500 X500Name X500NameBuilder)
           (org.bouncycastle.asn1.x500.style BCStyle)
           (org.bouncycastle.asn1.x509 BasicConstraints ExtendedKeyUsage Extension GeneralName
                                       GeneralNames KeyPurposeId KeyUsage SubjectPublicKeyInfo)
           (org.bouncycastle.asn1.x9 ECNamedCurveTable)
           (org.bouncycastle.cert X509CertificateHolder)
           (org.bouncycastle.cert.jcajce JcaX509CertificateConverter JcaX509ExtensionUtils
                                         JcaX509v3CertificateBuilder)
           (org.bouncycastle.openssl PEMKeyPair PEMParser)
           (org.bouncycastle.openssl.jcajce JcaPEMKeyConverter JcaPEMWriter JcaPKCS8Generator)
           (org.bouncycastle.operator.jcajce JcaContentSignerBuilder)))

;; ---------------------------------------------------------------------------------------------
;; The component's protocol

(defprotocol Identity
  "The `:identity` component: this node's key, its current certificate and TLS contexts built on
  them. Implementations: `shoal.identity.file` (key and certificates in the node's data dir).

  All methods are non-blocking, except `renew!`, which issues and writes a certificate."
  (current [this]
    "The identity now in force: `{:id node-id :key PrivateKey :cert X509Certificate
    :chain [X509Certificate] :ca-cert X509Certificate :operator-ca-cert X509Certificate-or-nil
    :files {:key :cert :ca :operator-ca}}` (paths as strings). The value changes at renewal.")
  (server-ssl-context [this]
    "An SSLContext presenting the current node certificate (re-read at each handshake) and
    requiring a client certificate signed by the cluster CA or the operator CA. Sockets and
    engines it creates need client auth and speak TLS 1.3/1.2 only. No hostname verification.")
  (client-ssl-context [this]
    "An SSLContext presenting the current node certificate and trusting only the cluster CA
    (servers are nodes). No hostname verification: see `shoal.tls`.")
  (on-renew! [this f]
    "Registers `(f current-map)`, called on the renewing thread after each renewal (exceptions
    in f are logged, not propagated). Returns this.")
  (add-hosts! [this hosts]
    "Adds names or IP literals the certificate must cover; reissues it at once (same key) when
    they are not covered yet. Idempotent. Returns the current map.")
  (renew! [this]
    "Issues, writes and swaps in a new certificate for the same key now. Returns the current map.
    Throws on failure (the renewal loop catches and retries)."))

;; ---------------------------------------------------------------------------------------------
;; Keys and the node id

(defn generate-key-pair
  "A fresh EC P-256 (secp256r1) KeyPair."
  ^KeyPair []
  (let [g (KeyPairGenerator/getInstance "EC")]
    (.initialize g (ECGenParameterSpec. "secp256r1") (SecureRandom.))
    (.generateKeyPair g)))

(defn public-key-of
  "The public key belonging to an EC private key, computed as d·G on the key's named curve
  (PKCS#8 files need not carry the public point). Throws `::bad-key` for non-EC keys."
  ^PublicKey [^PrivateKey k]
  (when-not (instance? ECPrivateKey k)
    (throw (ex-info "only EC private keys are supported" {:type ::bad-key
                                                          :algorithm (.getAlgorithm k)})))
  (let [^ECPrivateKey k k
        ;; Curve from the key's own encoding (named-curve OID), so no provider lookup is needed.
        oid (-> (PrivateKeyInfo/getInstance (.getEncoded k)) .getPrivateKeyAlgorithm .getParameters
                org.bouncycastle.asn1.ASN1ObjectIdentifier/getInstance)
        x9 (ECNamedCurveTable/getByOID oid)
        q (.normalize (.multiply (.getG x9) (.getS k)))
        point (ECPoint. (.toBigInteger (.getAffineXCoord q)) (.toBigInteger (.getAffineYCoord q)))]
    (.generatePublic (KeyFactory/getInstance "EC") (ECPublicKeySpec. point (.getParams k)))))

(defn- hex [^bytes bs]
  (apply str (map #(format "%02x" (bit-and (int %) 0xff)) bs)))

(defn node-id
  "The node id of a public key (or of the key of a certificate): lowercase hex of the first 16
  bytes of SHA-256 over the SubjectPublicKeyInfo DER. Never derived from an address."
  ^String [key-or-cert]
  (let [^PublicKey pk (if (instance? X509Certificate key-or-cert)
                        (.getPublicKey ^X509Certificate key-or-cert)
                        key-or-cert)
        digest (.digest (MessageDigest/getInstance "SHA-256") (.getEncoded pk))]
    (hex (java.util.Arrays/copyOf digest 16))))

;; ---------------------------------------------------------------------------------------------
;; PEM

(defn pem-string
  "PEM text of certificates and/or private keys, in order. Private keys are written as PKCS#8
  (\"PRIVATE KEY\"), which both the JDK and Go (etcd) read."
  ^String [& objs]
  (let [sw (StringWriter.)]
    (with-open [w (JcaPEMWriter. sw)]
      (doseq [o objs]
        (if (instance? PrivateKey o)
          (.writeObject w (JcaPKCS8Generator. ^PrivateKey o nil))
          (.writeObject w ^Object o))))
    (str sw)))

(defn- pkcs8->key ^PrivateKey [^PrivateKeyInfo info]
  (let [alg (.getId (.getAlgorithm (.getPrivateKeyAlgorithm info)))]
    (when-not (= alg "1.2.840.10045.2.1")
      (throw (ex-info (str "only EC private keys are supported, not " alg)
                      {:type ::bad-pem :algorithm alg})))
    (.generatePrivate (KeyFactory/getInstance "EC") (PKCS8EncodedKeySpec. (.getEncoded info)))))

(defn read-pem
  "Parses PEM text into a vector of X509Certificate, PrivateKey and PublicKey objects, in order.
  Accepts \"CERTIFICATE\", \"PRIVATE KEY\" (PKCS#8), \"EC PRIVATE KEY\" (SEC1) and \"PUBLIC KEY\".
  Throws `::bad-pem` on anything else (including encrypted keys) or on malformed text."
  [^String text]
  (let [conv (JcaPEMKeyConverter.)
        cconv (JcaX509CertificateConverter.)]
    (try
      (with-open [p (PEMParser. (StringReader. text))]
        (loop [out []]
          (let [o (.readObject p)]
            (cond
              (nil? o) out
              (instance? X509CertificateHolder o) (recur (conj out (.getCertificate cconv o)))
              ;; SEC1 files may lack the public point; go through PKCS#8 either way.
              (instance? PEMKeyPair o)
              (recur (conj out (pkcs8->key (.getPrivateKeyInfo ^PEMKeyPair o))))
              (instance? PrivateKeyInfo o) (recur (conj out (pkcs8->key o)))
              (instance? SubjectPublicKeyInfo o) (recur (conj out (.getPublicKey conv o)))
              :else (throw (ex-info (str "unsupported PEM object " (.getName (class o)))
                                    {:type ::bad-pem :object (.getName (class o))}))))))
      (catch clojure.lang.ExceptionInfo e (throw e))
      (catch Exception e
        (throw (ex-info (str "cannot parse PEM: " (.getMessage e)) {:type ::bad-pem} e))))))

(defn read-pem-file
  "`read-pem` of a file; throws `::missing-file` when it does not exist, and `::bad-pem` (with
  :path) when it holds nothing usable."
  [path]
  (let [f (io/file path)]
    (when-not (.isFile f)
      (throw (ex-info (str "no such file: " path) {:type ::missing-file :path (str path)})))
    (let [objs (try (read-pem (slurp f))
                    (catch clojure.lang.ExceptionInfo e
                      (throw (ex-info (str (ex-message e) " in " path)
                                      (assoc (ex-data e) :path (str path)) e))))]
      (when (empty? objs)
        (throw (ex-info (str "no PEM object in " path) {:type ::bad-pem :path (str path)})))
      objs)))

(defn read-cert
  "The first certificate in a PEM file. Throws `::bad-pem` when there is none."
  ^X509Certificate [path]
  (or (first (filter #(instance? X509Certificate %) (read-pem-file path)))
      (throw (ex-info (str "no certificate in " path) {:type ::bad-pem :path (str path)}))))

(defn read-key
  "The first private key in a PEM file (PKCS#8 or SEC1). Throws `::bad-pem` when there is none."
  ^PrivateKey [path]
  (or (first (filter #(instance? PrivateKey %) (read-pem-file path)))
      (throw (ex-info (str "no private key in " path) {:type ::bad-pem :path (str path)}))))

(defn read-private-key
  "Same as `read-key`."
  ^PrivateKey [path]
  (read-key path))

;; ---------------------------------------------------------------------------------------------
;; Files

(def ^:private secret-perms (PosixFilePermissions/fromString "rw-------"))
(def ^:private public-perms (PosixFilePermissions/fromString "rw-r--r--"))

(defn ensure-private-dir!
  "Creates dir (and parents) with mode 0700 when missing; returns its File."
  ^File [dir]
  (let [p (.toPath (io/file dir))]
    (when-not (Files/isDirectory p (make-array LinkOption 0))
      (Files/createDirectories p (into-array FileAttribute
                                             [(PosixFilePermissions/asFileAttribute
                                               (PosixFilePermissions/fromString "rwx------"))])))
    (.toFile p)))

(defn- write-synced! [^Path p ^String text]
  (with-open [out (FileOutputStream. (.toFile p))]
    (.write out (.getBytes text StandardCharsets/UTF_8))
    (.sync (.getFD out))))

(defn write-file!
  "Writes text to path with mode 0600 (`:secret? true`) or 0644. With `:replace? true` the file is
  written to a temp file in the same directory and renamed over the target, so readers (etcd, a
  restarting node) see the old or the new content, never a torn file. Without it, refuses with
  `::exists` when the file exists, and creates it with its final mode (no window where a key is
  world-readable). Returns the path as a string."
  [path text {:keys [secret? replace?]}]
  (let [target (.toPath (io/file path))
        perms (if secret? secret-perms public-perms)
        attr (into-array FileAttribute [(PosixFilePermissions/asFileAttribute perms)])]
    (if replace?
      (let [tmp (Files/createTempFile (.getParent (.toAbsolutePath target))
                                      (str "." (.getFileName target) ".") ".tmp" attr)]
        (try
          (write-synced! tmp text)
          (Files/move tmp target (into-array CopyOption [StandardCopyOption/ATOMIC_MOVE
                                                         StandardCopyOption/REPLACE_EXISTING]))
          (finally (Files/deleteIfExists tmp))))
      (do
        (try (Files/createFile target attr)
             (catch java.nio.file.FileAlreadyExistsException _
               (throw (ex-info (str "refusing to overwrite " path)
                               {:type ::exists :path (str path)}))))
        (write-synced! target text)))
    ;; createFile honours the umask; make the mode exact.
    (Files/setPosixFilePermissions target perms)
    (str target)))

;; ---------------------------------------------------------------------------------------------
;; Certificates

(def ^:private minute-ms 60000)

(defn- x500 ^X500Name [cn]
  (-> (X500NameBuilder. BCStyle/INSTANCE)
      (.addRDN BCStyle/O "shoal")
      (.addRDN BCStyle/CN ^String cn)
      .build))

(defn- random-serial ^BigInteger []
  ;; 127 random bits: positive, and under the 20-octet limit of RFC 5280.
  (BigInteger. 127 (SecureRandom.)))

(defn- sign ^X509Certificate [^JcaX509v3CertificateBuilder b ^PrivateKey signer]
  (let [holder (.build b (.build (JcaContentSignerBuilder. "SHA256withECDSA") signer))]
    (.getCertificate (JcaX509CertificateConverter.) holder)))

(defn backdate-ms
  "How far not-before is set before the issue instant, to tolerate clock skew between nodes:
  one minute, but at most a quarter of the lifetime so that short-lived test certificates keep
  their renewal point inside their nominal life."
  [lifetime-ms]
  (min minute-ms (quot lifetime-ms 4)))

(defn ip-literal?
  "True when s is an IPv4 or IPv6 literal (no DNS lookup is made)."
  [s]
  (boolean (or (re-matches #"\d{1,3}(\.\d{1,3}){3}" s)
               (and (str/includes? s ":") (re-matches #"[0-9a-fA-F:.]+" s)))))

(defn split-hosts
  "Splits names and IP literals: `{:dns [..] :ips [..]}`, each distinct, in order."
  [hosts]
  (let [hs (distinct (remove str/blank? (map str hosts)))]
    {:dns (vec (remove ip-literal? hs)) :ips (vec (filter ip-literal? hs))}))

(defn ca-cert
  "A self-signed CA certificate for key-pair: `{:key-pair KeyPair :name \"CN\" :lifetime-ms n
  :not-before Date}` (not-before defaults to now and is backdated like `issue-cert`). The CA may
  sign end-entity certificates only (path length 0)."
  ^X509Certificate [{:keys [^KeyPair key-pair name lifetime-ms ^Date not-before]}]
  (let [now (.getTime (or not-before (Date.)))
        subject (x500 name)
        utils (JcaX509ExtensionUtils.)
        b (doto (JcaX509v3CertificateBuilder. subject (random-serial)
                                              (Date. (long (- now (backdate-ms lifetime-ms))))
                                              (Date. (long (+ now lifetime-ms)))
                                              subject (.getPublic key-pair))
            (.addExtension Extension/basicConstraints true (BasicConstraints. 0))
            (.addExtension Extension/keyUsage true
                           (KeyUsage. (bit-or KeyUsage/keyCertSign KeyUsage/cRLSign
                                              KeyUsage/digitalSignature)))
            (.addExtension Extension/subjectKeyIdentifier false
                           (.createSubjectKeyIdentifier utils (.getPublic key-pair))))]
    (sign b (.getPrivate key-pair))))

(defn issue-cert
  "An end-entity X509Certificate for public-key, signed by the CA with SHA256withECDSA.

  Options: `:ca-cert :ca-key :public-key :subject-cn`, `:dns [names] :ips [literals]` (SANs),
  `:not-before Date` (default now; backdated by `backdate-ms`), `:lifetime-ms` (from not-before),
  `:server? :client?` (both default true; select the extendedKeyUsage serverAuth/clientAuth).
  Server certificates always carry the SANs \"localhost\" and 127.0.0.1. Every certificate has
  keyUsage digitalSignature+keyEncipherment, basicConstraints CA:false, subject and authority key
  identifiers, and a random positive 127-bit serial."
  ^X509Certificate
  [{:keys [^X509Certificate ca-cert ^PrivateKey ca-key ^PublicKey public-key subject-cn dns ips
           ^Date not-before lifetime-ms client? server?]
    :or {client? true server? true}}]
  (let [now (.getTime (or not-before (Date.)))
        dns (distinct (concat dns (when server? ["localhost"])))
        ips (distinct (concat ips (when server? ["127.0.0.1"])))
        sans (concat (map #(GeneralName. GeneralName/dNSName ^String %) dns)
                     (map #(GeneralName. GeneralName/iPAddress ^String %) ips))
        purposes (cond-> [] server? (conj KeyPurposeId/id_kp_serverAuth)
                         client? (conj KeyPurposeId/id_kp_clientAuth))
        utils (JcaX509ExtensionUtils.)
        issuer (X500Name/getInstance (.getEncoded (.getSubjectX500Principal ca-cert)))
        b (doto (JcaX509v3CertificateBuilder. issuer (random-serial)
                                              (Date. (long (- now (backdate-ms lifetime-ms))))
                                              (Date. (long (+ now lifetime-ms)))
                                              (x500 subject-cn) public-key)
            (.addExtension Extension/basicConstraints true (BasicConstraints. false))
            (.addExtension Extension/keyUsage true
                           (KeyUsage. (bit-or KeyUsage/digitalSignature KeyUsage/keyEncipherment)))
            (.addExtension Extension/extendedKeyUsage false
                           (ExtendedKeyUsage. ^"[Lorg.bouncycastle.asn1.x509.KeyPurposeId;"
                                              (into-array KeyPurposeId purposes)))
            (.addExtension Extension/subjectKeyIdentifier false
                           (.createSubjectKeyIdentifier utils public-key))
            (.addExtension Extension/authorityKeyIdentifier false
                           (.createAuthorityKeyIdentifier utils (.getPublicKey ca-cert))))]
    (when (seq sans)
      (.addExtension b Extension/subjectAlternativeName false
                     (GeneralNames. ^"[Lorg.bouncycastle.asn1.x509.GeneralName;"
                                    (into-array GeneralName sans))))
    (sign b ca-key)))

(defn subject-cn
  "The CN of a certificate's subject."
  [^X509Certificate cert]
  (let [n (X500Name/getInstance (.getEncoded (.getSubjectX500Principal cert)))]
    (when-let [^org.bouncycastle.asn1.x500.RDN rdn (first (.getRDNs n BCStyle/CN))]
      (str (.getValue (.getFirst rdn))))))

(defn- ip-bytes [s] (vec (.getAddress (InetAddress/getByName s))))

(defn sans
  "The subjectAltNames of a certificate: `{:dns #{lower-case names} :ips #{byte vectors}}`."
  [^X509Certificate cert]
  (let [entries (or (.getSubjectAlternativeNames cert) [])]
    (reduce (fn [m [t v]]
              (case (int t)
                2 (update m :dns conj (str/lower-case v))
                7 (update m :ips conj (ip-bytes v))
                m))
            {:dns #{} :ips #{}} entries)))

(defn covers-hosts?
  "True when the certificate's SANs include every name (case-insensitively) and IP literal in
  hosts (IPs compared as addresses, so \"::1\" matches \"0:0:0:0:0:0:0:1\")."
  [cert hosts]
  (let [{:keys [dns ips]} (sans cert)
        wanted (split-hosts hosts)]
    (and (every? #(contains? dns (str/lower-case %)) (:dns wanted))
         (every? #(contains? ips (ip-bytes %)) (:ips wanted)))))

(defn signed-by?
  "True when cert's signature verifies with the CA certificate's key and its issuer is the CA's
  subject."
  [^X509Certificate cert ^X509Certificate ca]
  (and (= (.getIssuerX500Principal cert) (.getSubjectX500Principal ca))
       (try (.verify cert (.getPublicKey ca)) true
            (catch java.security.GeneralSecurityException _ false))))

(defn matching-key?
  "True when the private key belongs to the certificate (or public key)."
  [^PrivateKey k key-or-cert]
  (let [^PublicKey pk (if (instance? X509Certificate key-or-cert)
                        (.getPublicKey ^X509Certificate key-or-cert)
                        key-or-cert)]
    (java.util.Arrays/equals (.getEncoded (public-key-of k)) (.getEncoded pk))))

(defn peer-role
  "What a peer is, from its certificate chain (leaf first, e.g. `shoal.tls/peer-certificates`)
  and an identity map (`current`): `:node` when the leaf is signed by the cluster CA, `:operator`
  when by the operator CA, else nil. Servers that accept both (see `server-ssl-context`) use it to
  authorise: operator actions need `:operator`, membership needs `:node`."
  [{:keys [ca-cert operator-ca-cert]} peer-certs]
  (when-let [leaf (first peer-certs)]
    (cond (signed-by? leaf ca-cert) :node
          (and operator-ca-cert (signed-by? leaf operator-ca-cert)) :operator)))

;; ---------------------------------------------------------------------------------------------
;; Renewal timing

(defn renew-at-ms
  "The renewal instant for validity [not-before-ms, not-after-ms): not-before plus a fraction
  f of the validity, f = 0.5 + 0.3·r with r (a uniform random draw) clamped to [0, 1] (NaN counts
  as 0.5). Spreading renewals over 50–80 % of the life avoids every node renewing at once after a
  mass start. Rounded to whole ms inside [50 %, 80 %] for any validity of 2 ms or more."
  [not-before-ms not-after-ms r]
  (let [r (double r)
        r (if (Double/isNaN r) 0.5 (Math/max 0.0 (Math/min 1.0 r)))
        life (- (long not-after-ms) (long not-before-ms))
        at (Math/round (* (+ 0.5 (* 0.3 r)) (double life)))
        lo (long (Math/ceil (* 0.5 life)))
        hi (long (Math/floor (* 0.8 life)))]
    (+ (long not-before-ms) (max lo (min hi at)))))

(defn renew-at
  "The instant (epoch ms) at which cert should be renewed, for a random fraction r in [0, 1]:
  see `renew-at-ms`."
  [^X509Certificate cert r]
  (renew-at-ms (.getTime (.getNotBefore cert)) (.getTime (.getNotAfter cert)) r))

(defn needs-renewal?
  "True when, at now-ms, cert must be replaced: past its renewal point renew-at-ms, expired, or
  not yet valid (the clock went backwards or the cert came from a skewed issuer)."
  [^X509Certificate cert now-ms renew-at-ms]
  (or (>= now-ms renew-at-ms)
      (>= now-ms (.getTime (.getNotAfter cert)))
      (< now-ms (.getTime (.getNotBefore cert)))))
