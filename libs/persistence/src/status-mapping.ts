import type { StepStatus as ApiStepStatus, TaskStatus as ApiTaskStatus } from '@atelier/contracts';
import { StepStatus, TaskStatus } from './generated/prisma/client';

// Prisma enums are SCREAMING_SNAKE in code and snake_case in the database and the API.

export function taskStatusToApi(status: TaskStatus): ApiTaskStatus {
  return status.toLowerCase() as ApiTaskStatus;
}

export function taskStatusFromApi(status: ApiTaskStatus): TaskStatus {
  return TaskStatus[status.toUpperCase() as keyof typeof TaskStatus];
}

export function stepStatusToApi(status: StepStatus): ApiStepStatus {
  return status.toLowerCase() as ApiStepStatus;
}

export function stepStatusFromApi(status: ApiStepStatus): StepStatus {
  return StepStatus[status.toUpperCase() as keyof typeof StepStatus];
}
