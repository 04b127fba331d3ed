#!/usr/bin/env node
// The committed entry point (npm links it at install, before anything is built).
import '../dist/main.js';
