// Package project reads a model's weights in vocabulary space: the
// projection of MLP keys and values onto the unembedding (Geva et al. 2022),
// and the V×V head views E·W_V·W_O·Eᵀ and E·W_Q·W_Kᵀ·Eᵀ (Dar et al. 2022).
//
// Head views are kept factored — a V×V view is A·Bᵀ with A, B of size
// V × d_head — and their largest entries are found exactly without ever
// forming the V×V matrix.
package project
