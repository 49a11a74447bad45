// Which encoder a database's vectors come from, and changing it (re-embed).
// Meta keys: "model_id" (the model the vectors come from) and
// "model_pending" (the model a re-embed is moving to; absent when none).
#include "api/src/database_impl.h"

namespace ctdb {
namespace {

const char kMetaModel[] = "model_id";
const char kMetaModelPending[] = "model_pending";

Result<std::string> MetaOrEmpty(const db::Store& store, const char* name) {
  auto v = store.GetMeta(name);
  if (v.ok()) return std::move(v).value();
  if (v.status().IsNotFound()) return std::string();
  return v.status();
}

}  // namespace

Status ResolveModel(db::Store* store, Options* effective) {
  CTDB_ASSIGN_OR_RETURN(std::string stored, MetaOrEmpty(*store, kMetaModel));
  CTDB_ASSIGN_OR_RETURN(std::string pending, MetaOrEmpty(*store, kMetaModelPending));
  const std::string& want = effective->model_id;
  const std::string reembed = "; re-embed it with `ctdb reembed --db " + store->path() + " --model MODELDIR`";
  if (want.empty()) {
    // No model given: reads and model-free writes, under the recorded model.
    effective->model_id = pending.empty() ? stored : pending;
    return Status::Ok();
  }
  if (effective->change_model && effective->dimension == 0) {
    return Status::InvalidArgument("change_model needs Options::dimension set to the new model's dimension");
  }
  if (!pending.empty()) {
    if (effective->change_model) {
      // Redirecting an unfinished re-embed (even back to the old model) is
      // safe: every study not on `want` gets re-embedded.
      return want == pending ? Status::Ok() : store->PutMeta(kMetaModelPending, want);
    }
    return Status::FailedPrecondition("a re-embed of " + store->path() + " to model " + pending +
                                      " was interrupted; run `ctdb reembed` with that model to finish it");
  }
  if (stored == want) return Status::Ok();
  if (stored.empty() && store->study_count() == 0) return store->PutMeta(kMetaModel, want);
  if (effective->change_model) return store->PutMeta(kMetaModelPending, want);
  if (stored.empty()) {
    return Status::FailedPrecondition("database " + store->path() + " holds vectors not made by model " + want +
                                      " (no model recorded)" + reembed);
  }
  return Status::FailedPrecondition("database " + store->path() + " was built with model " + stored +
                                    ", not " + want + ": their vectors are not comparable" + reembed);
}

Status DatabaseImpl::FinishModelChange() {
  std::lock_guard<std::mutex> lock(write_mu_);
  CTDB_ASSIGN_OR_RETURN(std::string pending, MetaOrEmpty(*store_, kMetaModelPending));
  if (pending.empty()) return Status::FailedPrecondition("no model change is pending");
  uint64_t stale = 0;
  std::string example;
  CTDB_RETURN_IF_ERROR(store_->ForEachRecord([&](uint64_t, const StudyRecord& r) {
    if (r.model_id != pending) {
      if (stale++ == 0) example = r.key;
    }
    return Status::Ok();
  }));
  if (stale > 0) {
    return Status::FailedPrecondition(std::to_string(stale) + " studies (e.g. '" + example +
                                      "') still hold vectors of the previous model");
  }
  CTDB_RETURN_IF_ERROR(store_->PutMeta(kMetaModel, pending));
  return store_->PutMeta(kMetaModelPending, "");
}

}  // namespace ctdb
