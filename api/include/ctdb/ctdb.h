// Umbrella header: everything an application needs.
#pragma once

#include "ctdb/database.h"
#include "ctdb/filter.h"
#include "ctdb/ingest.h"
#include "ctdb/model.h"
#include "ctdb/query.h"
#include "ctdb/options.h"
#include "ctdb/result.h"
#include "ctdb/status.h"
#include "ctdb/study.h"
#include "ctdb/version.h"
