"""Face detection, quality gate, embedding, enrolment, the watchlist index and evaluation."""
