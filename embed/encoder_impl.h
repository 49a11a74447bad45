// The encoder implementations LoadEncoder dispatches to (by manifest format).
#pragma once

#include "embed/encoder.h"

namespace ctdb::embed {

// InvalidArgument unless `volume` has the manifest's preprocessed size and
// spacing and holds that many voxels (the tensor copy relies on it).
Status CheckEncoderInput(const Tensor3& volume, const ModelManifest& manifest);

Result<std::unique_ptr<Encoder>> LoadNativeEncoder(const std::string& dir, const ModelManifest& manifest,
                                                   const EncoderRuntime& runtime);
Result<std::unique_ptr<Encoder>> LoadTorchScriptEncoder(const std::string& dir, const ModelManifest& manifest,
                                                        const EncoderRuntime& runtime);

}  // namespace ctdb::embed
