// lethe/lethe.hpp - every lethe layer that needs no optional backend.
// Backends are opt-in: <lethe/backend/eigen.hpp>, <lethe/backend/xtensor.hpp>,
// <lethe/backend/thrust.hpp>.
#pragma once

#include "core.hpp"
