"""Other products' APIs, served over the same services: translation only, no business rules.
Dialects never import each other."""
