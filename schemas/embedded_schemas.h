// The JSON Schema files of this folder, as text compiled into the library (see CMakeLists.txt), so
// the binary validates against exactly the files operators' editors use.
#pragma once

namespace shoal {

extern const char* const kClusterSchemaJson;  // schemas/cluster.schema.json
extern const char* const kAppSchemaJson;      // schemas/app.schema.json
extern const char* const kNodeSchemaJson;     // schemas/node.schema.json

}  // namespace shoal
