(ns shoal.identity.ca
  "Making the two certificate authorities and operator certificates, on the operator's machine.
  Run as `bin/make-cas SECRETS_DIR [OPERATOR_NAME]` (this namespace's `-main`).

  Files, all in one secrets directory (mode 0700; keys 0600, certificates 0644):
  - `cluster-ca.crt`, `cluster-ca.key`: the cluster CA. Both go into the node image (nodes sign
    their own certificates with it), so whoever has the image is a potential member.
  - `operator-ca.crt`, `operator-ca.key`: the operator CA. Only the *certificate* goes into the
    image; the key never does, and stays with the operators: it is what makes an operator
    certificate impossible to mint from a node.
  - `operator-<name>.crt`, `operator-<name>.key`: an operator's client certificate (clientAuth
    only), used by the REPL client to reach a node's ops port.

  Nothing is ever overwritten: an existing file is an `:shoal.identity/exists` error."
  (:require [clojure.java.io :as io]
            [clojure.tools.logging :as log]
            [shoal.identity :as id])
  (:import (java.security KeyPair)
           (java.util Date)))

(def ^:private day-ms (* 24 3600 1000))

(defn ca-files
  "Paths of a CA's files in dir: `{:cert \"<dir>/<kind>-ca.crt\" :key \"<dir>/<kind>-ca.key\"}`."
  [dir kind]
  {:cert (str (io/file dir (str (name kind) "-ca.crt")))
   :key (str (io/file dir (str (name kind) "-ca.key")))})

(defn operator-files
  "Paths of an operator's certificate and key in dir."
  [dir operator-name]
  {:cert (str (io/file dir (str "operator-" operator-name ".crt")))
   :key (str (io/file dir (str "operator-" operator-name ".key")))})

(defn- refuse-existing! [files]
  (doseq [p (vals files)]
    (when (.exists (io/file p))
      (throw (ex-info (str "refusing to overwrite " p)
                      {:type :shoal.identity/exists :path p})))))

(defn create-ca!
  "Creates a CA in dir: `{:dir d :kind :cluster|:operator :name \"subject CN\"
  :lifetime-days 3650}` writes `<kind>-ca.crt` and `<kind>-ca.key` (EC P-256, self-signed).
  Creates dir with mode 0700 when missing; the key file is 0600. Throws
  `:shoal.identity/exists` (before writing anything) when either file exists, and
  `:shoal.identity/bad-kind` for another kind. Returns `{:cert path :key path :id node-id-of-key}`."
  [{:keys [dir kind name lifetime-days] :or {lifetime-days 3650}}]
  (when-not (#{:cluster :operator} kind)
    (throw (ex-info (str "CA kind must be :cluster or :operator, not " (pr-str kind))
                    {:type :shoal.identity/bad-kind :kind kind})))
  (id/ensure-private-dir! dir)
  (let [files (ca-files dir kind)
        _ (refuse-existing! files)
        ^KeyPair kp (id/generate-key-pair)
        cert (id/ca-cert {:key-pair kp
                          :name (or name (str "shoal " (clojure.core/name kind) " CA"))
                          :lifetime-ms (* lifetime-days day-ms)
                          :not-before (Date.)})]
    (id/write-file! (:key files) (id/pem-string (.getPrivate kp)) {:secret? true})
    (id/write-file! (:cert files) (id/pem-string cert) {})
    (log/info "created" (clojure.core/name kind) "CA" (:cert files))
    (assoc files :id (id/node-id (.getPublic kp)))))

(defn issue-operator-cert!
  "Issues an operator's client certificate from the operator CA in dir: `{:dir d :name \"alice\"
  :lifetime-days 365}` writes `operator-<name>.crt` and `.key` (0600). The certificate has CN
  `<name>`, extendedKeyUsage clientAuth only and no SANs: it cannot serve as a node. Throws
  `:shoal.identity/exists` when either file exists, `:shoal.identity/missing-file` when the
  operator CA is absent. Returns `{:cert path :key path :id node-id-of-key}`."
  [{:keys [dir name lifetime-days] :or {lifetime-days 365}}]
  (when-not (and (string? name) (re-matches #"[A-Za-z0-9._-]+" name))
    (throw (ex-info (str "operator name must be letters, digits, '.', '_' or '-': " (pr-str name))
                    {:type :shoal.identity/bad-name :name name})))
  (let [ca (ca-files dir :operator)
        ca-cert (id/read-cert (:cert ca))
        ca-key (id/read-key (:key ca))
        files (operator-files dir name)
        _ (refuse-existing! files)
        ^KeyPair kp (id/generate-key-pair)
        cert (id/issue-cert {:ca-cert ca-cert :ca-key ca-key :public-key (.getPublic kp)
                             :subject-cn name :lifetime-ms (* lifetime-days day-ms)
                             :client? true :server? false})]
    (id/write-file! (:key files) (id/pem-string (.getPrivate kp)) {:secret? true})
    (id/write-file! (:cert files) (id/pem-string cert) {})
    (log/info "issued operator certificate" (:cert files))
    (assoc files :id (id/node-id (.getPublic kp)))))

(defn- create-or-keep! [dir kind]
  (let [files (ca-files dir kind)]
    (if (every? #(.exists (io/file %)) (vals files))
      (println "kept  " (:cert files) "(exists)")
      (let [made (create-ca! {:dir dir :kind kind})]
        (println "wrote " (:cert made))
        (println "wrote " (:key made) "(secret)")))))

(defn -main
  "`bin/make-cas SECRETS_DIR [OPERATOR_NAME]`: creates the cluster CA and the operator CA in
  SECRETS_DIR (keeping a CA whose two files already exist), then an operator certificate for
  OPERATOR_NAME (default \"operator\"). Prints every file written; exits 1 on error."
  [& args]
  (let [[dir operator-name] args]
    (if (or (nil? dir) (#{"-h" "--help"} dir))
      (do (println "usage: bin/make-cas SECRETS_DIR [OPERATOR_NAME]") (System/exit 2))
      (try
        (create-or-keep! dir :cluster)
        (create-or-keep! dir :operator)
        (let [made (issue-operator-cert! {:dir dir :name (or operator-name "operator")})]
          (println "wrote " (:cert made))
          (println "wrote " (:key made) "(secret)"))
        (println)
        (println "Into the node image: cluster-ca.crt, cluster-ca.key, operator-ca.crt.")
        (println "Never into the image: operator-ca.key and operator-*.key (keep them with the operators).")
        (System/exit 0)
        (catch clojure.lang.ExceptionInfo e
          (binding [*out* *err*]
            (println "make-cas:" (ex-message e) (pr-str (ex-data e))))
          (System/exit 1))))))
