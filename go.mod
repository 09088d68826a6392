module lenskit.dev

go 1.26.8
