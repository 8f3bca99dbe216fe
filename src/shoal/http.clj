(ns shoal.http
  "The JDK HttpClient as shoal's nodes use it to talk to each other and to etcd.

  With an `:ssl-context` the client presents its key and checks the server's chain against
  the context's trust managers, but not the server's host name or address: node certificates
  are issued to node ids, and their addresses change. On JDK 17 passing `SSLParameters` with
  a nil endpoint-identification algorithm to `HttpClient$Builder/sslParameters` does NOT work:
  the client sets \"HTTPS\" identification on every engine it creates unless the JVM-wide
  property `jdk.internal.httpclient.disableHostnameVerification` is set (checked by hand: the
  handshake fails with `No subject alternative names matching IP address`). That property
  would also switch verification off for every other HttpClient in the JVM (e.g. discovery
  fetching a URL from GitHub), so it is not used. Instead `no-hostname-ssl-context` wraps the
  given context so that the engines it creates drop the identification algorithm when the
  client sets their parameters; chain validation is untouched. (Contexts made by `shoal.tls`
  need no wrapper, their trust manager ignores the algorithm; contexts from elsewhere, e.g. a
  standard TrustManagerFactory, do, and the wrapper keeps both working.)"
  (:import (java.net.http HttpClient HttpClient$Redirect HttpClient$Version)
           (java.nio ByteBuffer)
           (java.time Duration)
           (javax.net.ssl SSLContext SSLContextSpi SSLEngine SSLParameters)))

;; ---------------------------------------------------------------------------------------------
;; TLS without host name verification, per client

(defn- no-hostname-engine
  "Delegates everything to `e` except that parameters set on it lose their endpoint
  identification algorithm."
  ^SSLEngine [^SSLEngine e]
  (proxy [SSLEngine] [(.getPeerHost e) (.getPeerPort e)]
    (wrap ([a b] (if (instance? ByteBuffer a)
                   (.wrap e ^ByteBuffer a ^ByteBuffer b)
                   (.wrap e ^"[Ljava.nio.ByteBuffer;" a ^ByteBuffer b)))
          ([a b c d] (.wrap e ^"[Ljava.nio.ByteBuffer;" a (int b) (int c) ^ByteBuffer d)))
    (unwrap ([a b] (if (instance? ByteBuffer b)
                     (.unwrap e ^ByteBuffer a ^ByteBuffer b)
                     (.unwrap e ^ByteBuffer a ^"[Ljava.nio.ByteBuffer;" b)))
            ([a b c d] (.unwrap e ^ByteBuffer a ^"[Ljava.nio.ByteBuffer;" b (int c) (int d))))
    (getDelegatedTask [] (.getDelegatedTask e))
    (closeInbound [] (.closeInbound e))
    (isInboundDone [] (.isInboundDone e))
    (closeOutbound [] (.closeOutbound e))
    (isOutboundDone [] (.isOutboundDone e))
    (getSupportedCipherSuites [] (.getSupportedCipherSuites e))
    (getEnabledCipherSuites [] (.getEnabledCipherSuites e))
    (setEnabledCipherSuites [x] (.setEnabledCipherSuites e x))
    (getSupportedProtocols [] (.getSupportedProtocols e))
    (getEnabledProtocols [] (.getEnabledProtocols e))
    (setEnabledProtocols [x] (.setEnabledProtocols e x))
    (getSession [] (.getSession e))
    (getHandshakeSession [] (.getHandshakeSession e))
    (beginHandshake [] (.beginHandshake e))
    (getHandshakeStatus [] (.getHandshakeStatus e))
    (setUseClientMode [x] (.setUseClientMode e (boolean x)))
    (getUseClientMode [] (.getUseClientMode e))
    (setNeedClientAuth [x] (.setNeedClientAuth e (boolean x)))
    (getNeedClientAuth [] (.getNeedClientAuth e))
    (setWantClientAuth [x] (.setWantClientAuth e (boolean x)))
    (getWantClientAuth [] (.getWantClientAuth e))
    (setEnableSessionCreation [x] (.setEnableSessionCreation e (boolean x)))
    (getEnableSessionCreation [] (.getEnableSessionCreation e))
    (getSSLParameters [] (.getSSLParameters e))
    (setSSLParameters [^SSLParameters p]
      (.setEndpointIdentificationAlgorithm p nil)
      (.setSSLParameters e p))
    (getApplicationProtocol [] (.getApplicationProtocol e))
    (getHandshakeApplicationProtocol [] (.getHandshakeApplicationProtocol e))
    (setHandshakeApplicationProtocolSelector [f] (.setHandshakeApplicationProtocolSelector e f))
    (getHandshakeApplicationProtocolSelector [] (.getHandshakeApplicationProtocolSelector e))))

(defn no-hostname-ssl-context
  "An SSLContext that behaves as `ctx` (same keys, same trust: the peer's chain is still
  validated) except that SSLEngines it creates ignore any endpoint identification algorithm,
  i.e. the peer certificate is not matched against the host name or address dialled. For the
  JDK HttpClient, which forces \"HTTPS\" identification otherwise (see the ns doc)."
  ^SSLContext [^SSLContext ctx]
  (let [spi (proxy [SSLContextSpi] []
              (engineInit [_ _ _]
                (throw (UnsupportedOperationException. "already initialised")))
              (engineGetSocketFactory [] (.getSocketFactory ctx))
              (engineGetServerSocketFactory [] (.getServerSocketFactory ctx))
              (engineCreateSSLEngine
                ([] (no-hostname-engine (.createSSLEngine ctx)))
                ([host port] (no-hostname-engine (.createSSLEngine ctx host (int port)))))
              (engineGetServerSessionContext [] (.getServerSessionContext ctx))
              (engineGetClientSessionContext [] (.getClientSessionContext ctx))
              (engineGetDefaultSSLParameters [] (.getDefaultSSLParameters ctx))
              (engineGetSupportedSSLParameters [] (.getSupportedSSLParameters ctx)))]
    (proxy [SSLContext] [spi (.getProvider ctx) (.getProtocol ctx)])))

(defn client
  "A JDK HttpClient for node-to-node calls (etcd's gateway, etcd /health, peers' APIs):
  HTTP/1.1 (one connection per streaming watch, no h2c upgrade dance), connect timeout
  `:timeout-ms`, and with `:ssl-context` mTLS without host name verification."
  ^HttpClient [{:keys [ssl-context timeout-ms] :or {timeout-ms 2000}}]
  (cond-> (HttpClient/newBuilder)
    true (.version HttpClient$Version/HTTP_1_1)
    true (.followRedirects HttpClient$Redirect/NEVER)
    true (.connectTimeout (Duration/ofMillis timeout-ms))
    ssl-context (.sslContext (no-hostname-ssl-context ssl-context))
    true (.build)))

