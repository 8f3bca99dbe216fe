// Reading etcd's log file back for error messages: etcd 3.4 (`--logger zap`) writes one JSON
// object per line, often long (a stack trace in a fatal line), so each is shortened to what a
// person needs: `fatal discovery failed: listen tcp 127.0.0.1:2379: bind: address already in use`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace shoal {

// One zap line as "LEVEL MSG: ERROR" (ERROR only when present); other lines as they are. Either
// is cut at 300 characters.
std::string compactEtcdLogLine(std::string_view line);

// The last `lines` lines written to `path` at or after byte `from`, compacted, joined by " | ";
// a run of equal lines counts once, marked " (xN)". "" when there are none or the file can't be
// read.
std::string etcdLogTail(const std::string& path, uint64_t from, int lines = 6);

}  // namespace shoal
