(ns shoal.log
  "Text logging setup. shoal logs through clojure.tools.logging onto the JDK's logger
  (java.util.logging, no extra jars); this namespace gives it one line per record:

      2026-11-26T10:40:00.123Z INFO  [shoal.membership] registered node 3fa1… (lease 7587…)

  Level from the `SHOAL_LOG` environment variable (DEBUG, INFO, WARN, ERROR), INFO by default."
  (:import (java.util.logging ConsoleHandler Formatter Level LogRecord Logger)
           (java.time Instant)))

(def ^:private levels
  {"DEBUG" Level/FINE "INFO" Level/INFO "WARN" Level/WARNING "ERROR" Level/SEVERE})

(defn- level-name [^Level l]
  (condp <= (.intValue l)
    (.intValue Level/SEVERE) "ERROR"
    (.intValue Level/WARNING) "WARN "
    (.intValue Level/INFO) "INFO "
    "DEBUG"))

(defn- formatter []
  (proxy [Formatter] []
    (format [^LogRecord r]
      (let [t (.getThrown r)
            sw (java.io.StringWriter.)]
        (when t (.printStackTrace t (java.io.PrintWriter. sw)))
        (str (Instant/ofEpochMilli (.getMillis r)) " " (level-name (.getLevel r))
             " [" (.getLoggerName r) "] " (.getMessage r) "\n" sw)))))

(defn setup!
  "Replaces the root logger's handlers with one stderr handler at `level` (a string, see ns doc;
  default from SHOAL_LOG, else INFO). Idempotent."
  ([] (setup! (or (System/getenv "SHOAL_LOG") "INFO")))
  ([level]
   (let [lvl (get levels (.toUpperCase ^String level) Level/INFO)
         root (Logger/getLogger "")
         h (doto (ConsoleHandler.) (.setFormatter (formatter)) (.setLevel lvl))]
     (doseq [old (.getHandlers root)] (.removeHandler root old))
     (.addHandler root h)
     (.setLevel root lvl))))
