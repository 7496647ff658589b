// A lower layer reaching up: what the check must refuse.
#pragma once
#include "high/b.h"
