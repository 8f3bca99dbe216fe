(ns shoal.tls
  "TLS plumbing shared by every component that speaks mTLS (membership, API, proxy, ops tunnel,
  the etcd client): SSLContexts built from in-memory keys and certificates, a key manager that
  re-reads its key and certificate at every handshake (so certificate renewal needs no restart),
  and helpers to read who is on the other end.

  Policy, fixed here so that no caller forgets it:
  - TLS 1.3 and 1.2 only, on every socket and engine a context from `ssl-context` creates.
  - Contexts made with `:need-client-auth? true` create server sockets and engines that *require*
    a client certificate (mutual TLS); a handshake without one fails.
  - **No hostname verification.** A shoal peer is authenticated by its certificate chaining to the
    cluster CA, and identified by its node id (the fingerprint of its key, see `shoal.identity`),
    not by the name or address it was dialled at. Addresses change (DHCP, cloud re-IPs, Docker
    networks), and tying identity to them is what breaks Swarm managers whose IP changed
    (moby#41043). Only holders of a cluster-CA key can get such a certificate, and the CA signs
    only nodes, so a name check would add no security and would add outages. Callers that need a
    *particular* node check its id on the session (`peer-certificates` + `shoal.identity/node-id`).
    The trust manager therefore ignores the endpoint-identification algorithm that clients such
    as `java.net.http.HttpClient` request; chain, validity, keyUsage and extendedKeyUsage
    (serverAuth for servers, clientAuth for clients) are still checked by the JDK's PKIX validator.
  - No revocation checking: node certificates are short-lived instead (see doc/identity.md)."
  (:require [clojure.string :as str])
  (:import (java.security KeyStore MessageDigest PrivateKey SecureRandom)
           (java.security.cert Certificate X509Certificate)
           (javax.net.ssl KeyManager SSLContext SSLContextSpi SSLEngine SSLParameters
                          SSLPeerUnverifiedException SSLServerSocket SSLServerSocketFactory
                          SSLSession SSLSocket SSLSocketFactory TrustManager TrustManagerFactory
                          X509ExtendedKeyManager X509ExtendedTrustManager)))

(def protocols
  "The TLS protocol versions shoal speaks, best first."
  ["TLSv1.3" "TLSv1.2"])

(def ^:private alias-name "shoal")

(defn key-manager
  "An X509ExtendedKeyManager over a deref-able (an atom) holding `{:key PrivateKey
  :cert X509Certificate :chain [X509Certificate ...]}` (`:chain` defaults to `[cert]`; the leaf
  comes first). The source is read at every handshake, so `reset!`ing it to a renewed certificate
  takes effect on the next handshake, with no new SSLContext. When the source holds no key, no
  certificate is offered.

  The key and chain are read in separate calls by the JDK; swap them together and keep the key
  across renewals (shoal does) so a handshake racing a renewal still gets a matching pair."
  ^X509ExtendedKeyManager [cert-source]
  (let [usable? (fn [key-type]
                  (when-let [^PrivateKey k (:key @cert-source)]
                    (or (nil? key-type) (= key-type (.getAlgorithm k)))))
        aliases (fn [key-type] (when (usable? key-type) (into-array String [alias-name])))
        choose-one (fn [key-types] (when (some usable? key-types) alias-name))]
    (proxy [X509ExtendedKeyManager] []
      (getClientAliases [key-type _issuers] (aliases key-type))
      (getServerAliases [key-type _issuers] (aliases key-type))
      (chooseClientAlias [key-types _issuers _socket] (choose-one key-types))
      (chooseEngineClientAlias [key-types _issuers _engine] (choose-one key-types))
      (chooseServerAlias [key-type _issuers _socket] (when (usable? key-type) alias-name))
      (chooseEngineServerAlias [key-type _issuers _engine] (when (usable? key-type) alias-name))
      (getCertificateChain [a]
        (when (= a alias-name)
          (let [{:keys [cert chain]} @cert-source]
            (when cert (into-array X509Certificate (or (seq chain) [cert]))))))
      (getPrivateKey [a]
        (when (= a alias-name) (:key @cert-source))))))

(defn trust-manager
  "An X509ExtendedTrustManager that accepts peers whose chain ends at one of certs (CA
  certificates), checked by the JDK's PKIX validator (validity, signatures, basicConstraints,
  keyUsage, extendedKeyUsage), without hostname verification (see the namespace doc).
  Throws `::no-trust` when certs is empty."
  ^X509ExtendedTrustManager [certs]
  (let [certs (remove nil? certs)
        _ (when (empty? certs)
            (throw (ex-info "a trust manager needs at least one CA certificate"
                            {:type ::no-trust})))
        ks (doto (KeyStore/getInstance "PKCS12") (.load nil nil))
        _ (doseq [[i c] (map-indexed vector certs)]
            (.setCertificateEntry ks (str "ca-" i) ^Certificate c))
        tmf (doto (TrustManagerFactory/getInstance "PKIX") (.init ks))
        ^X509ExtendedTrustManager tm (first (filter #(instance? X509ExtendedTrustManager %)
                                                    (.getTrustManagers tmf)))]
    ;; The 3-argument checks are where the JDK verifies hostnames; route them to the 2-argument
    ;; checks, which validate the chain (and its extendedKeyUsage) and nothing else.
    (proxy [X509ExtendedTrustManager] []
      (checkClientTrusted
        ([chain auth-type] (.checkClientTrusted tm chain ^String auth-type))
        ([chain auth-type _socket-or-engine] (.checkClientTrusted tm chain ^String auth-type)))
      (checkServerTrusted
        ([chain auth-type] (.checkServerTrusted tm chain ^String auth-type))
        ([chain auth-type _socket-or-engine] (.checkServerTrusted tm chain ^String auth-type)))
      (getAcceptedIssuers [] (.getAcceptedIssuers tm)))))

(defn- configure-params ^SSLParameters [^SSLParameters p need-client-auth?]
  (let [supported (set (.getProtocols p))]
    (.setProtocols p (into-array String (filter supported protocols))))
  (when need-client-auth? (.setNeedClientAuth p true))
  p)

(defn- configure-engine ^SSLEngine [^SSLEngine e need-client-auth?]
  (.setEnabledProtocols e (into-array String (filter (set (.getSupportedProtocols e)) protocols)))
  (when need-client-auth? (.setNeedClientAuth e true))
  e)

(defn- configure-server-socket [^SSLServerSocket s need-client-auth?]
  (.setEnabledProtocols s (into-array String (filter (set (.getSupportedProtocols s)) protocols)))
  (when need-client-auth? (.setNeedClientAuth s true))
  s)

(defn- configure-socket [s]
  (when (instance? SSLSocket s)
    (let [^SSLSocket s s]
      (.setEnabledProtocols s (into-array String (filter (set (.getSupportedProtocols s))
                                                         protocols)))))
  s)

(defn- call [target method args]
  ;; Overloads of the socket factories share arities; let the runtime types pick one.
  (clojure.lang.Reflector/invokeInstanceMethod target method (object-array args)))

(defn- policed
  "Wraps ctx so that everything it creates follows shoal's policy (protocols, client auth)."
  ^SSLContext [^SSLContext ctx need-client-auth?]
  (let [ssf (.getServerSocketFactory ctx)
        sf (.getSocketFactory ctx)
        server-factory (proxy [SSLServerSocketFactory] []
                         (createServerSocket [& args]
                           (configure-server-socket (call ssf "createServerSocket" args)
                                                    need-client-auth?))
                         (getDefaultCipherSuites [] (.getDefaultCipherSuites ssf))
                         (getSupportedCipherSuites [] (.getSupportedCipherSuites ssf)))
        socket-factory (proxy [SSLSocketFactory] []
                         (createSocket [& args] (configure-socket (call sf "createSocket" args)))
                         (getDefaultCipherSuites [] (.getDefaultCipherSuites sf))
                         (getSupportedCipherSuites [] (.getSupportedCipherSuites sf)))
        spi (proxy [SSLContextSpi] []
              (engineInit [_ _ _]
                (throw (IllegalStateException. "shoal SSLContexts are initialised at creation")))
              (engineGetSocketFactory [] socket-factory)
              (engineGetServerSocketFactory [] server-factory)
              (engineCreateSSLEngine
                ([] (configure-engine (.createSSLEngine ctx) need-client-auth?))
                ([host port] (configure-engine (.createSSLEngine ctx host (int port))
                                               need-client-auth?)))
              (engineGetServerSessionContext [] (.getServerSessionContext ctx))
              (engineGetClientSessionContext [] (.getClientSessionContext ctx))
              (engineGetDefaultSSLParameters []
                (configure-params (.getDefaultSSLParameters ctx) need-client-auth?))
              (engineGetSupportedSSLParameters [] (.getSupportedSSLParameters ctx)))]
    (proxy [SSLContext] [spi (.getProvider ctx) (.getProtocol ctx)])))

(defn ssl-context
  "An initialised SSLContext following shoal's policy (see the namespace doc).

  Options: `:key-source` a deref-able for `key-manager` (nil: present no certificate);
  `:trust` CA certificates accepted from peers (required); `:need-client-auth? true` for server
  contexts that require a client certificate."
  ^SSLContext [{:keys [key-source trust need-client-auth?]}]
  (let [ctx (SSLContext/getInstance "TLS")]
    (.init ctx
           (into-array KeyManager (if key-source [(key-manager key-source)] []))
           (into-array TrustManager [(trust-manager trust)])
           (SecureRandom.))
    (policed ctx need-client-auth?)))

(defn peer-certificates
  "The peer's certificate chain on an SSLSession (leaf first), as a vector of X509Certificate;
  empty when the peer presented none."
  [^SSLSession ssl-session]
  (try (vec (filter #(instance? X509Certificate %) (.getPeerCertificates ssl-session)))
       (catch SSLPeerUnverifiedException _ [])))

(defn cert-fingerprint
  "Lowercase hex SHA-256 of the certificate's DER encoding (what `openssl x509 -fingerprint
  -sha256` prints, without colons). Identifies a certificate; the node id identifies a key."
  ^String [^X509Certificate cert]
  (let [d (.digest (MessageDigest/getInstance "SHA-256") (.getEncoded cert))]
    (str/join (map #(format "%02x" (bit-and (int %) 0xff)) d))))
