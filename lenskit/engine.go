package lenskit

import "lenskit.dev/lenskit/project"

// defaultEngine picks the engine for a model loaded without WithEngine.
func defaultEngine() (project.Engine, error) { return project.CPU(), nil }
