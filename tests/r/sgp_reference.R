# The SGP package's studentGrowthPercentiles method, written out with quantreg and splines, for one cohort.
# Usage: Rscript sgp_reference.R cohort.csv out.csv min_order2
#   cohort.csv: id,current,prior_1,prior_2 (prior_1 = most recent; NA = missing)
#   out.csv:    id,sgp,order
# As the package: knots at quantiles 0.2, 0.4, 0.6, 0.8 of each prior (type 7, rounded to 3 decimals), boundaries at
# extendrange(f = 0.1) (rounded), rq(method = "br") at taus (1:100 - 0.5) / 100 on bs(prior, knots, Boundary.knots)
# of each prior, predictions rounded to 5 decimals and sorted per student, SGP = fitted quantiles below the score,
# 0 -> 1 and 100 -> 99; each student scored by the highest order fitted.
suppressPackageStartupMessages({ library(quantreg); library(splines) })
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
min_order2 <- as.integer(args[3])
taus <- (1:100 - 0.5) / 100

kb <- function(x) list(knots = round(as.vector(quantile(x, probs = c(0.2, 0.4, 0.6, 0.8))), 3),
                       bounds = round(extendrange(x, f = 0.1), 3))

basis <- function(x, k) bs(x, knots = k$knots, Boundary.knots = k$bounds)

fit_order <- function(rows, k) {
  g <- d[rows, ]
  kbs <- lapply(seq_len(k), function(j) kb(g[[paste0("prior_", j)]]))
  X <- do.call(cbind, lapply(seq_len(k), function(j) basis(g[[paste0("prior_", j)]], kbs[[j]])))
  coef <- rq(g$current ~ X, tau = taus, method = "br")$coefficients
  list(kbs = kbs, coef = coef)
}

score <- function(model, rows, k) {
  g <- d[rows, , drop = FALSE]
  X <- cbind(1, do.call(cbind, lapply(seq_len(k), function(j) basis(g[[paste0("prior_", j)]], model$kbs[[j]]))))
  pred <- round(X %*% model$coef, 5)
  pred <- t(apply(pred, 1, sort))
  s <- rowSums(pred < g$current)
  s[s == 0] <- 1
  s[s == 100] <- 99
  as.integer(s)
}

has1 <- !is.na(d$prior_1)
has2 <- has1 & !is.na(d$prior_2)
out <- data.frame(id = d$id, sgp = 0L, order = 0L)
m1 <- fit_order(which(has1), 1)
out$sgp[has1] <- score(m1, which(has1), 1)
out$order[has1] <- 1L
if (sum(has2) >= min_order2) {
  m2 <- fit_order(which(has2), 2)
  out$sgp[has2] <- score(m2, which(has2), 2)
  out$order[has2] <- 2L
}
write.csv(out, args[2], row.names = FALSE)
