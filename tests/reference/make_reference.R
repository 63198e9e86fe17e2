# Reference values for tests/test_reference_r.py, computed independently in R.
#
#   Rscript tests/reference/make_reference.R      (from the repository root)
#
# Needs Debian's r-base-core, r-cran-survival, r-cran-lme4 and r-cran-jsonlite.
# Reads the CSV cohorts in this folder and writes reference.json next to them.
# Every derived value (baseline, endpoint, first response, loss of response) is
# derived here from the questionnaires with R code written from docs/methods.md,
# not from the Python tool.
suppressPackageStartupMessages({library(survival); library(lme4); library(jsonlite)})
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
rd <- function(f) read.csv(file.path(here, f), stringsAsFactors = FALSE, colClasses = c(patient_id = "character"))
out <- list(generated_with = list(R = R.version.string, survival = as.character(packageVersion("survival")),
                                  lme4 = as.character(packageVersion("lme4"))))

# ---------------------------------------------------------------- rates, Fisher, Freeman-Halton, Holm
wilson <- function(x, n) as.numeric(prop.test(x, n, correct = FALSE)$conf.int)
# fisher.test's conditional MLE and exact interval solve with uniroot's default tolerance (about 1e-4
# on the 0-1 scale), which moves the odds ratio in its 4th significant digit.  This is fisher.test's
# own algorithm (R's stats:::fisher.test, 2 x 2 branch) with a tight tolerance.
conditional_or <- function(tab, conf.level = 0.95, tol = 1e-13) {
  m <- sum(tab[, 1L]); n <- sum(tab[, 2L]); k <- sum(tab[1L, ]); x <- tab[1L, 1L]
  lo <- max(0L, k - n); hi <- min(k, m); support <- lo:hi
  logdc <- dhyper(support, m, n, k, log = TRUE)
  dnhyper <- function(ncp) { d <- logdc + log(ncp) * support; d <- exp(d - max(d)); d / sum(d) }
  mnhyper <- function(ncp) { if (ncp == 0) return(lo); if (ncp == Inf) return(hi); sum(support * dnhyper(ncp)) }
  pnhyper <- function(q, ncp, upper.tail = FALSE) {
    if (ncp == 1) return(if (upper.tail) phyper(x - 1, m, n, k, lower.tail = FALSE) else phyper(x, m, n, k))
    if (ncp == 0) return(as.numeric(if (upper.tail) q <= lo else q >= lo))
    if (ncp == Inf) return(as.numeric(if (upper.tail) q <= hi else q >= hi))
    sum(dnhyper(ncp)[if (upper.tail) support >= q else support <= q])
  }
  mle <- function(x) {
    if (x == lo) return(0); if (x == hi) return(Inf)
    mu <- mnhyper(1)
    if (mu > x) uniroot(function(t) mnhyper(t) - x, c(0, 1), tol = tol)$root
    else if (mu < x) 1 / uniroot(function(t) mnhyper(1 / t) - x, c(.Machine$double.eps, 1), tol = tol)$root
    else 1
  }
  ncp.U <- function(x, alpha) {
    if (x == hi) return(Inf); p <- pnhyper(x, 1)
    if (p < alpha) uniroot(function(t) pnhyper(x, t) - alpha, c(0, 1), tol = tol)$root
    else if (p > alpha) 1 / uniroot(function(t) pnhyper(x, 1 / t) - alpha, c(.Machine$double.eps, 1), tol = tol)$root
    else 1
  }
  ncp.L <- function(x, alpha) {
    if (x == lo) return(0); p <- pnhyper(x, 1, upper.tail = TRUE)
    if (p > alpha) uniroot(function(t) pnhyper(x, t, upper.tail = TRUE) - alpha, c(0, 1), tol = tol)$root
    else if (p < alpha) 1 / uniroot(function(t) pnhyper(x, 1 / t, upper.tail = TRUE) - alpha,
                                    c(.Machine$double.eps, 1), tol = tol)$root
    else 1
  }
  alpha <- (1 - conf.level) / 2
  if (lo == hi) return(c(NA, NA, NA))  # every patient has the same outcome: undefined
  c(mle(x), ncp.L(x, alpha), ncp.U(x, alpha))
}
cases <- read.csv(file.path(here, "rates_cases.csv"), stringsAsFactors = FALSE)
rates <- list()
for (cs in unique(cases$case)) {
  d <- cases[cases$case == cs, ]
  groups <- lapply(seq_len(nrow(d)), function(i) {
    ci <- wilson(d$events[i], d$n[i])
    list(group = d$group[i], events = d$events[i], n = d$n[i], rate = d$events[i] / d$n[i], ci_low = ci[1], ci_high = ci[2])
  })
  pairs <- list(); ps <- c()
  for (i in seq_len(nrow(d) - 1)) for (j in (i + 1):nrow(d)) {
    a <- d[i, ]; b <- d[j, ]
    tab <- matrix(c(a$events, a$n - a$events, b$events, b$n - b$events), nrow = 2, byrow = TRUE)
    ft <- fisher.test(tab)
    or <- conditional_or(tab)
    wa <- wilson(a$events, a$n); wb <- wilson(b$events, b$n); pa <- a$events / a$n; pb <- b$events / b$n
    # Newcombe (1998) method 10 from the Wilson limits
    pairs[[length(pairs) + 1]] <- list(group_a = a$group, group_b = b$group, difference = pa - pb,
      diff_ci_low = pa - pb - sqrt((pa - wa[1])^2 + (wb[2] - pb)^2),
      diff_ci_high = pa - pb + sqrt((wa[2] - pa)^2 + (pb - wb[1])^2),
      odds_ratio = or[1], or_ci_low = or[2], or_ci_high = or[3],
      odds_ratio_fisher_test_default_tolerance = unname(ft$estimate), p_value = ft$p.value)
    ps <- c(ps, ft$p.value)
  }
  holm <- p.adjust(ps, method = "holm")
  for (k in seq_along(pairs)) pairs[[k]]$p_holm <- holm[k]
  tab <- cbind(d$events, d$n - d$events)
  expected <- outer(rowSums(tab), colSums(tab)) / sum(tab)
  omnibus <- NULL
  if (nrow(d) > 2) {
    if (min(expected) < 5) {
      omnibus <- list(test = "fisher", p_value = fisher.test(tab)$p.value)
    } else {
      ct <- chisq.test(tab, correct = FALSE)
      omnibus <- list(test = "chisq", statistic = unname(ct$statistic), df = unname(ct$parameter), p_value = ct$p.value)
    }
  }
  rates[[cs]] <- list(groups = groups, pairs = pairs, omnibus = omnibus, min_expected = min(expected))
}
out$rates <- rates

# ---------------------------------------------------------------- per-patient outcomes from the questionnaires
outcomes <- function(q, target = 42, half = 7, min_baseline = 10) {
  q <- q[order(q$patient_id, q$day), ]
  res <- do.call(rbind, lapply(split(q, q$patient_id), function(p) {
    b <- p[p$day >= -30 & p$day <= 0, ]
    base_day <- if (nrow(b)) max(b$day) else NA
    base <- if (nrow(b)) b$phq9_total[b$day == base_day] else NA
    w <- p[p$day > 0 & p$day >= target - half & p$day <= target + half, ]
    end_day <- if (nrow(w)) w$day[order(abs(w$day - target), w$day)][1] else NA
    end <- if (nrow(w)) w$phq9_total[w$day == end_day] else NA
    early <- p[p$day > 0 & p$day <= target, ]
    resp_days <- early$day[early$phq9_total <= 0.5 * base]
    rem_days <- early$day[early$phq9_total < 5]
    post <- p$day[p$day > 0]
    data.frame(patient_id = p$patient_id[1], site = p$site[1], base_day = base_day, base = base,
               end_day = end_day, end = end,
               eligible = !is.na(base) && base >= min_baseline,
               first_response = if (length(resp_days)) min(resp_days) else NA,
               first_remission = if (length(rem_days)) min(rem_days) else NA,
               last_fu = if (length(post)) max(post) else 0, stringsAsFactors = FALSE)
  }))
  res$response <- !is.na(res$end) & res$end <= 0.5 * res$base
  res$remission <- !is.na(res$end) & res$end < 5
  res
}
q <- rd("questionnaires.csv")
pt <- outcomes(q)
el <- pt[pt$eligible, ]
comp <- el[!is.na(el$end), ]
out$cohort <- list(patients = nrow(pt), with_baseline = sum(!is.na(pt$base)), eligible = nrow(el),
                   completers = nrow(comp))
site_rates <- list()
for (metric in c("response", "remission")) {
  rows <- lapply(sort(unique(comp$site)), function(s) {
    x <- sum(comp[comp$site == s, metric]); n <- sum(comp$site == s); ci <- wilson(x, n)
    list(site = s, events = x, n = n, rate = x / n, ci_low = ci[1], ci_high = ci[2])
  })
  site_rates[[metric]] <- rows
}
out$site_rates <- site_rates

# ---------------------------------------------------------------- Kaplan-Meier (log-log), number at risk, log-rank
km <- list()
for (metric in c("response", "remission")) {
  first <- el[[paste0("first_", metric)]]
  el$time <- ifelse(is.na(first), el$last_fu, first)
  el$event <- !is.na(first)
  curves <- list(); at_risk <- list()
  for (s in sort(unique(el$site))) {
    d <- el[el$site == s, ]
    f <- survfit(Surv(time, event) ~ 1, data = d, conf.type = "log-log")
    sm <- summary(f, censored = TRUE)
    curves[[s]] <- list(time = sm$time, n_risk = sm$n.risk, n_event = sm$n.event, n_censor = sm$n.censor,
                        surv = sm$surv, std_err = sm$std.err, lower = sm$lower, upper = sm$upper)
    days <- c(0, 7, 14, 21, 28, 35, 42)
    at_risk[[s]] <- list(day = days, n_risk = summary(f, times = days, extend = TRUE)$n.risk)
  }
  sites <- sort(unique(el$site))
  pairs <- list(); ps <- c()
  for (i in 1:(length(sites) - 1)) for (j in (i + 1):length(sites)) {
    sd2 <- survdiff(Surv(time, event) ~ site, data = el[el$site %in% sites[c(i, j)], ])
    p <- pchisq(sd2$chisq, length(sd2$n) - 1, lower.tail = FALSE)
    pairs[[length(pairs) + 1]] <- list(group_a = sites[i], group_b = sites[j], chisq = sd2$chisq, p_value = p)
    ps <- c(ps, p)
  }
  holm <- p.adjust(ps, method = "holm")
  for (k in seq_along(pairs)) pairs[[k]]$p_holm <- holm[k]
  sdk <- survdiff(Surv(time, event) ~ site, data = el)
  km[[metric]] <- list(curves = curves, at_risk = at_risk, pairs = pairs,
                       omnibus = list(chisq = sdk$chisq, df = length(sdk$n) - 1,
                                      p_value = pchisq(sdk$chisq, length(sdk$n) - 1, lower.tail = FALSE),
                                      observed = as.numeric(sdk$obs), expected = as.numeric(sdk$exp)))
}
out$km <- km

# ---------------------------------------------------------------- durability of response
durability <- list()
resp <- el[el$response, ]
for (rule in c("two_consecutive", "single")) {
  rows <- lapply(seq_len(nrow(resp)), function(i) {
    r <- resp[i, ]
    p <- q[q$patient_id == r$patient_id & q$day > r$end_day, ]
    p <- p[order(p$day), ]
    above <- p$phq9_total > 0.5 * r$base
    lost <- if (rule == "single") which(above) else which(above & c(above[-1], FALSE))
    if (length(lost)) c(p$day[lost[1]] - r$end_day, 1) else c((if (nrow(p)) max(p$day) else r$end_day) - r$end_day, 0)
  })
  m <- do.call(rbind, rows)
  f <- survfit(Surv(m[, 1], m[, 2]) ~ 1, conf.type = "log-log")
  sm <- summary(f, times = c(28, 56))  # extend = FALSE: a day beyond the last follow-up is not reported
  durability[[rule]] <- list(responders = nrow(m), losses = sum(m[, 2]), day = sm$time, surv = sm$surv,
                             lower = sm$lower, upper = sm$upper, n_risk = sm$n.risk)
}
out$durability <- durability

# ---------------------------------------------------------------- pre-post effect sizes
both <- pt[!is.na(pt$base) & !is.na(pt$end), ]
both$change <- both$end - both$base
band <- cut(both$base, c(-Inf, 4, 9, 14, 19, 27), labels = c("minimal (0-4)", "mild (5-9)", "moderate (10-14)",
                                                           "moderately severe (15-19)", "severe (20-27)"))
es <- function(d) list(n = nrow(d), mean_change = mean(d$change), sd_change = sd(d$change),
                       d_z = mean(d$change) / sd(d$change), smc_baseline_sd = mean(d$change) / sd(d$base))
effect <- list("all eligible" = es(both[both$eligible, ]))
for (b in levels(droplevels(band))) effect[[b]] <- es(both[band == b, ])
out$effect_sizes <- effect

# ---------------------------------------------------------------- linear mixed model (REML)
lmm <- function(q) {
  q <- q[order(q$patient_id, q$day), ]
  b <- q[q$day >= -30 & q$day <= 0, ]
  b <- b[!duplicated(b$patient_id, fromLast = TRUE), ]
  d <- rbind(b, q[q$day > 0 & q$day <= 84, ])
  d$weeks <- d$day / 7
  fit <- lmer(phq9_total ~ weeks * site + (weeks | patient_id), data = d, REML = TRUE,
              control = lmerControl(check.conv.singular = "ignore"))
  vc <- as.data.frame(VarCorr(fit))
  list(n_observations = nrow(d), n_patients = length(unique(d$patient_id)),
       terms = names(fixef(fit)), estimate = unname(fixef(fit)), std_error = unname(sqrt(diag(as.matrix(vcov(fit))))),
       intercept_variance = vc$vcov[vc$var1 == "(Intercept)" & is.na(vc$var2) & vc$grp == "patient_id"],
       slope_variance = vc$vcov[vc$var1 == "weeks" & is.na(vc$var2) & vc$grp == "patient_id"],
       correlation = vc$sdcor[!is.na(vc$var2)], residual_variance = sigma(fit)^2,
       reml_criterion = unname(REMLcrit(fit)), singular = isSingular(fit))
}
out$lmm <- lmm(q)
out$lmm_singular <- lmm(rd("questionnaires_singular.csv"))

# na = "string": NA is written "NA" and infinity "Inf" (the tests read them back as missing and inf)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, null = "null", na = "string", pretty = TRUE),
           file.path(here, "reference.json"))
cat("wrote", file.path(here, "reference.json"), "\n")
