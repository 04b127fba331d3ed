/** The dashboard's static files (built into dist/ui). */
export {};
