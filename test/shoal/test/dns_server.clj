(ns shoal.test.dns-server
  "A tiny authoritative DNS server for tests, over UDP on 127.0.0.1 (a free port):

      (def srv (start! {\"shoal.test.\" {:a [\"10.1.2.3\"]
                                         :srv [{:priority 0 :weight 0 :port 7440
                                                :target \"n1.shoal.test.\"}]}}))
      (:port srv) ... ((:stop srv))

  It answers A and SRV questions from the map (names case-insensitive, trailing dot optional);
  a known name without records of the asked type gets an empty answer, an unknown name NXDOMAIN.
  Answers point back to the question's name (compression pointer 0xC00C); SRV targets are
  written out in full. One question per message, as every resolver sends."
  (:require [clojure.string :as str])
  (:import (java.io ByteArrayOutputStream DataOutputStream)
           (java.net DatagramPacket DatagramSocket InetAddress SocketException)
           (java.nio ByteBuffer)))

(def ^:private type-a 1)
(def ^:private type-srv 33)

(defn- canonical [n]
  (str/lower-case (if (str/ends-with? n ".") n (str n "."))))

(defn- read-question
  "{:name \"a.b.\" :qtype n :end offset} from a query, or nil when malformed."
  [^ByteBuffer buf]
  (try
    (loop [labels []]
      (let [len (bit-and 0xff (.get buf))]
        (if (zero? len)
          {:name (str (str/join "." labels) ".")
           :qtype (bit-and 0xffff (.getShort buf))
           :qclass (bit-and 0xffff (.getShort buf))
           :end (.position buf)}
          (let [bs (byte-array len)]
            (.get buf bs)
            (recur (conj labels (String. bs "US-ASCII")))))))
    (catch Exception _ nil)))

(defn- write-name [^DataOutputStream out n]
  (doseq [label (remove str/blank? (str/split n #"\."))]
    (.writeByte out (count label))
    (.writeBytes out label))
  (.writeByte out 0))

(defn- rdata ^bytes [qtype record]
  (let [bytes (ByteArrayOutputStream.)
        out (DataOutputStream. bytes)]
    (if (= qtype type-a)
      (.write out (.getAddress (InetAddress/getByName record)))
      (let [{:keys [priority weight port target]} record]
        (.writeShort out priority)
        (.writeShort out weight)
        (.writeShort out port)
        (write-name out target)))
    (.toByteArray bytes)))

(defn- answer
  "The response bytes for query `q` (a byte array of length n), or nil to stay silent."
  ^bytes [zone ^bytes q n]
  (let [buf (ByteBuffer/wrap q 0 n)
        id (.getShort buf)
        flags (.getShort buf)
        qdcount (.getShort buf)]
    (.position buf 12)
    (when-let [{:keys [name qtype end]} (and (= 1 qdcount) (read-question buf))]
      (let [entry (get zone (canonical name))
            records (case (int qtype) 1 (:a entry) 33 (:srv entry) nil)
            bytes (ByteArrayOutputStream.)
            out (DataOutputStream. bytes)]
        (.writeShort out id)
        ;; QR, the query's opcode and RD, AA, RA; rcode 3 (NXDOMAIN) for an unknown name
        (.writeShort out (bit-or 0x8400 (bit-and flags 0x7900) 0x0080 (if entry 0 3)))
        (.writeShort out 1)
        (.writeShort out (count records))
        (.writeShort out 0)
        (.writeShort out 0)
        (.write out q 12 (- end 12))
        (doseq [r records
                :let [data (rdata qtype r)]]
          (.writeShort out 0xC00C)
          (.writeShort out qtype)
          (.writeShort out 1)
          (.writeInt out 5)
          (.writeShort out (alength data))
          (.write out data))
        (.toByteArray bytes)))))

(defn start!
  "Starts a server answering from `zone` (see the ns doc) on its own daemon thread, on
  127.0.0.1 or `:host` (e.g. a test network's gateway, for containers). Returns
  {:port n :server \"host:n\" :stop (fn [])}."
  ([zone] (start! zone {}))
  ([zone {:keys [host] :or {host "127.0.0.1"}}]
  (let [zone (update-keys zone canonical)
        sock (DatagramSocket. 0 (InetAddress/getByName host))
        t (Thread.
           (fn []
             (let [buf (byte-array 512)]
               (try
                 (while true
                   (let [p (DatagramPacket. buf (alength buf))]
                     (.receive sock p)
                     (when-let [resp (answer zone (.getData p) (.getLength p))]
                       (.send sock (DatagramPacket. resp (alength resp) (.getSocketAddress p))))))
                 (catch SocketException _ nil))))
           "test-dns-server")]
    (.setDaemon t true)
    (.start t)
    {:port (.getLocalPort sock)
     :server (str host ":" (.getLocalPort sock))
     :stop (fn [] (.close sock) (.join t 1000))})))
