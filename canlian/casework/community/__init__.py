"""Community services (issue 11 §3): visits and 实事 projects, the psychological hotline and counselling,
special education, legal aid, activities. ``kinds`` declares each record kind (fields, list columns, filters),
``access`` scopes them, ``services`` writes, ``selectors`` counts, ``views`` serves the generic pages."""
