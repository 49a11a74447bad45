// The encoder implementations LoadEncoder dispatches to (by manifest format).
#pragma once

#include "embed/encoder.h"

namespace ctdb::embed {

Result<std::unique_ptr<Encoder>> LoadNativeEncoder(const std::string& dir, const ModelManifest& manifest,
                                                   const EncoderRuntime& runtime);
Result<std::unique_ptr<Encoder>> LoadTorchScriptEncoder(const std::string& dir, const ModelManifest& manifest,
                                                        const EncoderRuntime& runtime);

}  // namespace ctdb::embed
